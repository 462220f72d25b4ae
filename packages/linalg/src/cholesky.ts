/**
 * Cholesky factor of A + λI (lower, A + λI = L Lᵀ) and solves with it, for symmetric PSD A
 * (symmetrised first). Methods: host float64, blocked (host panels + backend matMul updates), native.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError, describeValue } from '@natgrad/core';
import { blockedCholesky } from './blocked';
import { assertFiniteHost, hostCholesky, hostCholeskySolve, hostSymmetrize } from './host';
import { resolveMethod, symmetrizeDamped } from './inverse';
import { nativeCholesky, nativeCholeskySolve, requireNativeBackend } from './native';
import type { ConcreteMethod, LinalgMethod } from './policy';
import { clippedCholesky } from './roundoff-psd';
import { assertFiniteDevice, checkDamping, fromHost, readHost, readHostMany, squareSize } from './validate';

export interface MethodOptions {
  /** Default 'auto'. */
  method?: LinalgMethod;
}

/** Lower L with A + λI = L Lᵀ. Caller owns the result. Throws NOT_POSITIVE_DEFINITE when it does not exist. */
export async function cholesky(a: tf.Tensor2D, damping = 0, options: MethodOptions = {}): Promise<tf.Tensor2D> {
  const what = 'cholesky';
  const n = squareSize(a, what);
  checkDamping(damping, what);
  const { method } = resolveMethod(options?.method, n, 'cholesky', what);
  try {
    return await choleskyBy(method, a, n, damping, what);
  } catch (error) {
    // A pivot ≤ 0: let the float64 spectrum decide between roundoff (clip, factor A_clipped + λI) and a real error.
    if (!(error instanceof NatgradError) || error.code !== 'NOT_POSITIVE_DEFINITE') throw error;
    return fromHost(clippedCholesky(await readHost(a), n, damping, what), [n, n]);
  }
}

async function choleskyBy(method: ConcreteMethod, a: tf.Tensor2D, n: number, damping: number, what: string): Promise<tf.Tensor2D> {
  if (method === 'host') {
    const data = await readHost(a);
    assertFiniteHost(data, what);
    return fromHost(hostCholesky(hostSymmetrize(data, n), n, damping), [n, n]);
  }
  const native = method === 'native' ? requireNativeBackend(what) : null;
  const m = symmetrizeDamped(a, damping);
  try {
    await assertFiniteDevice(m, what);
    return await (native !== null ? nativeCholesky(native, m) : blockedCholesky(m));
  } finally {
    m.dispose();
  }
}

/** (L Lᵀ)⁻¹ B for a lower-triangular L (only its lower triangle is read) and B of shape [n, m]. */
export async function choleskySolve(l: tf.Tensor2D, b: tf.Tensor2D, options: MethodOptions = {}): Promise<tf.Tensor2D> {
  const what = 'choleskySolve';
  const n = squareSize(l, what);
  if (!(b instanceof tf.Tensor) || b.rank !== 2 || b.shape[0] !== n || b.dtype !== 'float32' || b.isDisposed) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: B must be a live float32 matrix with n rows.`, {
      expected: `a float32 tf.Tensor2D of shape [${n}, m]`,
      received: describeValue(b),
      fix: 'reshape a vector to [n, 1]',
    });
  }
  const { method } = resolveMethod(options?.method, n, 'solve', what);
  if (method === 'native') {
    const native = requireNativeBackend(what);
    await assertFiniteDevice([l, b], what);
    const lower = tf.tidy(() => tf.linalg.bandPart(l, -1, 0) as tf.Tensor2D);
    try {
      return nativeCholeskySolve(native, lower, b);
    } finally {
      lower.dispose();
    }
  }
  const [lData, bData] = await readHostMany([l, b]);
  assertFiniteHost(lData, what);
  assertFiniteHost(bData, what);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) lData[i * n + j] = 0;
    if (!(lData[i * n + i] > 0)) {
      throw new NatgradError('NOT_POSITIVE_DEFINITE', `${what}: L is not a Cholesky factor.`, {
        expected: 'a lower-triangular L with a positive diagonal',
        received: `L[${i}][${i}] = ${lData[i * n + i]}`,
        fix: 'pass the factor returned by cholesky()',
      });
    }
  }
  const m = b.shape[1];
  return fromHost(hostCholeskySolve(lData, n, bData, m), [n, m]);
}
