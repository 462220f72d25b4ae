/**
 * The damped inverse (A + λI)⁻¹ of a symmetric PSD matrix, the operation a KFAC-style curvature
 * block refreshes every few steps, dispatched to one of four methods (see policy.ts for 'auto').
 * A is symmetrised first, so the result does not depend on rounding asymmetry in the statistics.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError, describeValue } from '@natgrad/core';
import { blockedSpdInverseHost } from './blocked';
import { assertFiniteHost, hostCholesky, hostInverseFromCholesky, hostSpdInverse, hostSymmetrize } from './host';
import { detectNativeBackend, nativeSpdInverse, requireNativeBackend } from './native';
import { newtonSchulzInverse } from './newton-schulz';
import { clippedEigenInverse } from './roundoff-psd';
import { type ConcreteMethod, type LinalgMethod, type LinalgOperation, SUPPORTED_METHODS, blockedResidualThreshold, chooseMethod } from './policy';
import { checkInverse } from './residual-check';
import { assertFiniteDevice, checkDamping, checkPositiveInteger, checkPositiveNumber, fromHost, readHost, squareSize } from './validate';

export interface InverseOptions {
  /** Default 'auto' (see chooseMethod). */
  method?: LinalgMethod;
  /** A previous inverse, for Newton–Schulz (ignored by other methods); used only if its residual ‖R‖_F < 1. */
  warmStart?: tf.Tensor2D;
  /** Newton–Schulz iteration cap (default 60). */
  maxIterations?: number;
  /** Newton–Schulz target for ‖I − (A+λI)X‖_F / √n (default 1e-6; float32 stalls earlier and stops there). */
  tolerance?: number;
  /** Blocked only: the diagonal block size factored on the host (default BLOCKED_LEAF_N = 128). */
  blockSize?: number;
}

export interface InverseResult {
  /** (A + λI)⁻¹; caller owns it. */
  inverse: tf.Tensor2D;
  method: ConcreteMethod;
  /** Why this method ran (the 'auto' policy's reason, or "requested"). */
  reason: string;
  /**
   * Set when the method's SPD test failed and the float64 eigendecomposition took over: the result is
   * then (A_clipped + λI)⁻¹ with eigenvalues of sym(A) in [−tolerance, 0) clipped to 0.
   */
  fallback?: InverseFallback;
  /** Newton–Schulz only: iterations run, the float32 residual ‖I − (A+λI)X‖_F/√n, and whether it warm-started. */
  iterations?: number;
  residual?: number;
  warmStarted?: boolean;
  /** Blocked only: its a-posteriori accuracy check, and whether it sent the inverse to the host. */
  residualCheck?: BlockedResidualCheck;
}

/** The accuracy check of a blocked inverse (InverseResult.residualCheck): what was estimated, the bar, and whether the host inverse replaced it. */
export interface BlockedResidualCheck {
  /** Estimated ‖(A+λI)X − I‖_F/√n of the blocked result (float64, Gaussian probes). */
  residualEstimate: number;
  /** A lower bound on κ₂(A+λI). */
  conditionLowerBound: number;
  /** What the estimate had to meet (blockedResidualThreshold). */
  threshold: number;
  /** True when it did not, and the returned inverse is the float64 host one (`method: 'host'`). */
  fellBack: boolean;
}

export interface InverseFallback {
  /** Smallest eigenvalue of sym(A) (float64). */
  minEigenvalue: number;
  /** The roundoff tolerance τ = n·2⁻²³·‖A‖₂. */
  tolerance: number;
  /** Number of eigenvalues clipped to 0. */
  clipped: number;
  /** The message of the error that triggered the fallback. */
  cause: string;
}

const METHODS: readonly LinalgMethod[] = ['auto', 'host', 'blocked', 'newton-schulz', 'native'];

/** Validates `method` for `operation` and resolves 'auto' on the active backend. */
export function resolveMethod(method: unknown, n: number, operation: LinalgOperation, what: string): { method: ConcreteMethod; reason: string } {
  const requested = method ?? 'auto';
  const supported = SUPPORTED_METHODS[operation];
  if (!METHODS.includes(requested as LinalgMethod) || (requested !== 'auto' && !supported.includes(requested as ConcreteMethod))) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: unknown or unsupported method.`, {
      expected: `one of 'auto', ${supported.map((m) => `'${m}'`).join(', ')}`,
      received: describeValue(requested),
      fix: "omit `method` to let 'auto' choose",
    });
  }
  if (requested !== 'auto') return { method: requested as ConcreteMethod, reason: 'requested' };
  return chooseMethod(n, tf.getBackend(), { operation, nativeAvailable: detectNativeBackend() !== null });
}

function checkOptions(options: InverseOptions, n: number, what: string): void {
  if (options === null || typeof options !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: options must be an object.`, {
      expected: '{ method?, warmStart?, maxIterations?, tolerance?, blockSize? }',
      received: describeValue(options),
      fix: 'pass an options object or omit it',
    });
  }
  if (options.maxIterations !== undefined) checkPositiveInteger(options.maxIterations, 'maxIterations', what);
  if (options.tolerance !== undefined) checkPositiveNumber(options.tolerance, 'tolerance', what);
  if (options.blockSize !== undefined) checkPositiveInteger(options.blockSize, 'blockSize', what);
  if (options.warmStart !== undefined) {
    const m = squareSize(options.warmStart, `${what} (warmStart)`);
    if (m !== n) {
      throw new NatgradError('SHAPE_MISMATCH', `${what}: warmStart has a different size than A.`, {
        expected: `shape [${n},${n}]`,
        received: describeValue(options.warmStart),
        fix: 'pass the previous inverse of the same factor, or omit warmStart',
      });
    }
  }
}

/** sym(A) + λI on the device. */
export function symmetrizeDamped(a: tf.Tensor2D, damping: number): tf.Tensor2D {
  return tf.tidy(() => {
    const s = tf.mul(tf.add(a, tf.transpose(a)), 0.5);
    return (damping === 0 ? s : tf.add(s, tf.mul(tf.eye(a.shape[0]), damping))) as tf.Tensor2D;
  });
}

/**
 * (A + λI)⁻¹ with the method used and, for Newton–Schulz, its convergence record. When the method's
 * SPD test fails (a Cholesky pivot ≤ 0, a growing Newton–Schulz residual) the float64 spectrum decides
 * (roundoff-psd.ts): roundoff-level negative eigenvalues are clipped and (A_clipped + λI)⁻¹ returned,
 * anything else is NOT_POSITIVE_DEFINITE with the numbers.
 */
export async function dampedInverseDetailed(a: tf.Tensor2D, damping: number, options: InverseOptions = {}): Promise<InverseResult> {
  const what = 'dampedInverse';
  const n = squareSize(a, what);
  checkDamping(damping, what);
  checkOptions(options, n, what);
  const { method, reason } = resolveMethod(options.method, n, 'inverse', what);
  try {
    return await dispatch(a, n, damping, options, method, reason, what);
  } catch (error) {
    if (!(error instanceof NatgradError) || error.code !== 'NOT_POSITIVE_DEFINITE') throw error;
    const { inverse, spectrum } = clippedEigenInverse(await readHost(a), n, damping, what);
    const fallback: InverseFallback = {
      minEigenvalue: spectrum.minEigenvalue,
      tolerance: spectrum.tolerance,
      clipped: spectrum.clipped,
      cause: error.message,
    };
    return { inverse: fromHost(inverse, [n, n]), method, reason, fallback };
  }
}

async function dispatch(
  a: tf.Tensor2D,
  n: number,
  damping: number,
  options: InverseOptions,
  method: ConcreteMethod,
  reason: string,
  what: string,
): Promise<InverseResult> {
  if (method === 'host') {
    const data = await readHost(a);
    assertFiniteHost(data, what);
    return { inverse: fromHost(hostSpdInverse(data, n, damping), [n, n]), method, reason };
  }
  if (method === 'blocked') {
    // Everything but the matMuls happens on the host (see blocked.ts), so start there.
    const data = (await a.data()) as Float32Array;
    assertFiniteHost(data, what);
    // Entries formed in float64 and rounded to float32 once, as the blocked recursion works in float32.
    const m64 = hostSymmetrize(data, n, damping);
    const x = await blockedSpdInverseHost(Float32Array.from(m64), n, options.blockSize);
    // The recursion has no error test of its own and its error grows with depth and κ (r = 2.0
    // measured on wasm, κ = 1e5, blockSize 16): check the result, and if it misses the documented
    // bound, return the float64 host inverse instead of a silently wrong one.
    const { residualEstimate, conditionLowerBound } = checkInverse(m64, x, n);
    const threshold = blockedResidualThreshold(n, conditionLowerBound, tf.getBackend());
    if (residualEstimate <= threshold) {
      const residualCheck = { residualEstimate, conditionLowerBound, threshold, fellBack: false };
      return { inverse: tf.tensor2d(x, [n, n]), method, reason, residualCheck };
    }
    const residualCheck = { residualEstimate, conditionLowerBound, threshold, fellBack: true };
    const why = `${reason}; blocked result failed its accuracy check (estimated r = ${residualEstimate.toExponential(2)} > ${threshold.toExponential(2)} at κ ≥ ${conditionLowerBound.toExponential(2)}), recomputed on the host in float64`;
    return { inverse: fromHost(hostInverseFromCholesky(hostCholesky(m64, n), n), [n, n]), method: 'host', reason: why, residualCheck };
  }
  const native = method === 'native' ? requireNativeBackend(what) : null;
  const m = symmetrizeDamped(a, damping);
  try {
    if (method === 'newton-schulz') {
      const r = await newtonSchulzInverse(m, options);
      return { inverse: r.inverse, method, reason, iterations: r.iterations, residual: r.residual, warmStarted: r.warmStarted };
    }
    await assertFiniteDevice(m, what);
    return { inverse: await nativeSpdInverse(native as NonNullable<typeof native>, m), method, reason };
  } finally {
    m.dispose();
  }
}

/**
 * (A + λI)⁻¹ for symmetric PSD A (symmetrised first). Resolves to a new tensor (caller owns).
 * Asynchronous because every method reads from the device (WebGPU has no synchronous read).
 */
export async function dampedInverse(a: tf.Tensor2D, damping: number, options: InverseOptions = {}): Promise<tf.Tensor2D> {
  return (await dampedInverseDetailed(a, damping, options)).inverse;
}

export interface BatchInverseOptions extends InverseOptions {
  /** One previous inverse (or undefined) per matrix, for Newton–Schulz. */
  warmStarts?: readonly (tf.Tensor2D | undefined)[];
}

/**
 * Batched: one damping for all, or one per matrix. All-or-nothing: on an error nothing is leaked.
 * The matrices are inverted concurrently, so on a GPU backend one matrix's host reads (a Newton–Schulz
 * residual per iteration) overlap the other matrices' device work instead of stalling one after another;
 * each result is the one dampedInverse gives alone.
 */
export async function dampedInverses(
  as: readonly tf.Tensor2D[],
  damping: number | readonly number[],
  options: BatchInverseOptions = {},
): Promise<tf.Tensor2D[]> {
  const what = 'dampedInverses';
  if (!Array.isArray(as)) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: expected an array of matrices.`, {
      expected: 'an array of tf.Tensor2D',
      received: describeValue(as),
      fix: 'wrap a single matrix in an array, or call dampedInverse',
    });
  }
  const dampings = typeof damping === 'number' ? as.map(() => damping) : damping;
  if (!Array.isArray(dampings) || dampings.length !== as.length) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: one damping per matrix is needed.`, {
      expected: `a number or an array of ${as.length} numbers`,
      received: describeValue(damping),
      fix: 'pass a single damping for all matrices or one per matrix',
    });
  }
  const { warmStarts, ...single } = options;
  if (warmStarts !== undefined && (!Array.isArray(warmStarts) || warmStarts.length !== as.length)) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: one warm start (or undefined) per matrix is needed.`, {
      expected: `an array of ${as.length} entries`,
      received: describeValue(warmStarts),
      fix: 'pass the previous inverses in the same order as the matrices',
    });
  }
  if (single.warmStart !== undefined && as.length !== 1) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: a single warmStart is ambiguous for a batch.`, {
      expected: 'options.warmStarts with one entry per matrix',
      received: `warmStart with ${as.length} matrices`,
      fix: 'use options.warmStarts',
    });
  }
  for (const d of dampings) checkDamping(d, what);
  const settled = await Promise.allSettled(as.map((a, i) => dampedInverse(a, dampings[i], { ...single, warmStart: warmStarts?.[i] ?? single.warmStart })));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed !== undefined) {
    for (const r of settled) if (r.status === 'fulfilled') r.value.dispose();
    throw failed.reason;
  }
  return settled.map((r) => (r as PromiseFulfilledResult<tf.Tensor2D>).value);
}
