/**
 * fisherOrthogonal(): Fisher-Orthogonal Projection (FOP), Lu & Armour, "Fisher-Orthogonal
 * Projection Methods for Natural Gradient Descent with Large Batches", arXiv 2508.13898. The batch
 * is split into two halves; per curvature block the mean gradient g_avg is combined with the part
 * of the halves' difference that is orthogonal to g_avg in the Fisher metric, with a mixing weight
 * beta* and a step size eta* chosen in closed form (steps 1-8 of docs/algorithms/fop.md, which
 * follows the shared fop-spec.md). All scalar arithmetic stays on the device; the per-block
 * diagnostics are read back with one stacked, awaited read per step (WebGPU has no synchronous
 * read), or not at all when disabled.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type CurvatureView,
  NatgradError,
  type ParamMap,
  type ProjectionDiagnostics,
  type ProjectionResult,
  type ProjectionStrategy,
  describeValue,
} from '@natgrad/core';
import {
  applyView,
  blockDot,
  blockParams,
  partitionBlocks,
  pick,
  startMultiply,
  validateSubBatchGrads,
} from '../internal/param-blocks';

export interface FisherOrthogonalOptions {
  /**
   * Relative guard of every division: den is replaced by max(den, eps * scale), scale being an
   * upper bound of |den| from Cauchy-Schwarz. Also the threshold below which g_perp counts as zero
   * (beta* = 0, FOP = KFAC on the mean). Default 1e-12.
   */
  eps?: number;
  /**
   * g_tot of step 7: 'mean' (default) uses g_avg, giving eta* in [1/2, 1]; 'sum' uses g1 + g2,
   * the literal reading of the paper, giving eta* in [1, 2].
   */
  etaNumerator?: 'mean' | 'sum';
  /**
   * Optional clamp of beta*: a number c clamps to [-c, c]; {min, max} to that interval, which must
   * contain 0 so that agreeing halves still give beta* = 0 (FOP = KFAC on the mean). Default none.
   */
  betaClamp?: number | { min: number; max: number };
  /** Read s, beta*, eta*, ||g_perp|| / ||g_avg|| to the host each step (one read). Default true. */
  diagnostics?: boolean;
}

/** Smallest positive normal float32: keeps 0 / 0 at 0 when a whole block's gradient vanishes. */
const TINY = 1.1754944e-38;
/** Values read per block: s, beta, eta, ||g_perp||^2, ||g_avg||^2. */
const DIAG_FIELDS = 5;

function invalid(what: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `fisherOrthogonal(): invalid ${what}.`, {
    expected,
    received: describeValue(received),
    fix,
  });
}

/** den guarded as max(den, eps * scale, TINY) (spec DECISION "eps"). */
function guard(den: tf.Scalar, scale: tf.Scalar, eps: number): tf.Scalar {
  return tf.maximum(tf.maximum(den, tf.mul(scale, eps)), TINY) as tf.Scalar;
}

class FisherOrthogonalProjection implements ProjectionStrategy {
  readonly name = 'fisherOrthogonal';
  readonly subBatches = 2;

  constructor(
    private readonly eps: number,
    private readonly etaScale: number,
    private readonly clamp: { min: number; max: number } | null,
    private readonly readDiagnostics: boolean,
  ) {}

  async combine(subBatchGrads: readonly ParamMap[], curvature: CurvatureView): Promise<ProjectionResult> {
    const names = validateSubBatchGrads(this.name, subBatchGrads, 2);
    const { blocks, free } = partitionBlocks(this.name, curvature, names);
    const eps = this.eps;
    const [g1, g2] = subBatchGrads;

    let diagTensor: tf.Tensor | null = null;
    const out = tf.tidy((): { directions: ParamMap; meanGrads: ParamMap } => {
      // Step 2: g_avg = (g1 + g2) / 2 (the full-batch mean), g_diff = g1 - g2 (not halved).
      const gAvg: ParamMap = {};
      const gDiff: ParamMap = {};
      for (const p of names) gAvg[p] = tf.mul(tf.add(g1[p], g2[p]), 0.5);
      const inBlocks = blockParams(blocks);
      for (const p of inBlocks) gDiff[p] = tf.sub(g1[p], g2[p]);

      // Step 3 needs F g_avg with the UNDAMPED curvature: one multiply for all blocks, started first
      // so that an estimator with beginMultiply (KFAC with a statistics worker) computes it on
      // another thread while the two preconditions below run here.
      const finishMultiply = startMultiply(this.name, curvature, pick(gAvg, inBlocks));
      // Cheap form: two preconditioner applications for all blocks together. p_perp = F^-1 g_perp
      // follows from them by linearity (p_perp = p_diff - s p_avg, step 4 in the preconditioned
      // space), so neither waits for s and F g_avg.
      const pAvg = applyView(this.name, curvature, 'precondition', pick(gAvg, inBlocks));
      const pDiff = applyView(this.name, curvature, 'precondition', gDiff);
      const fAvg = finishMultiply();
      const gPerp: ParamMap = {};
      const pPerp: ParamMap = {};
      const sOf: tf.Scalar[] = [];
      for (const b of blocks) {
        const num = blockDot(gDiff, fAvg, b.params);
        const den = blockDot(gAvg, fAvg, b.params);
        // |<g, F g>| <= ||g|| ||F g||.
        const scale = tf.sqrt(tf.mul(blockDot(gAvg, gAvg, b.params), blockDot(fAvg, fAvg, b.params))) as tf.Scalar;
        const s = tf.div(num, guard(den, scale, eps)) as tf.Scalar;
        sOf.push(s);
        // Step 4: g_perp = g_diff - s g_avg, so that <g_avg, F g_perp> = 0.
        for (const p of b.params) {
          gPerp[p] = tf.sub(gDiff[p], tf.mul(s, gAvg[p]));
          pPerp[p] = tf.sub(pDiff[p], tf.mul(s, pAvg[p]));
        }
      }

      const directions: ParamMap = {};
      const diag: tf.Scalar[] = [];
      blocks.forEach((b, i) => {
        const a = blockDot(gAvg, pAvg, b.params);
        const d = blockDot(gAvg, pPerp, b.params);
        const e = blockDot(gPerp, pPerp, b.params);
        // Step 5: beta* = D / E; g_perp counts as zero (beta* = 0) when E <= eps * a, i.e. when
        // ||g_perp|| is negligible next to ||g_avg|| in the F^-1 metric. A max(E, eps a) guard
        // alone would not do: beta* g_perp is invariant to the scale of g_perp, so rounding noise
        // in g_perp would otherwise still move the direction.
        const perpIsZero = tf.lessEqual(e, tf.mul(a, eps));
        let beta = tf.where(perpIsZero, tf.zerosLike(d), tf.div(d, tf.maximum(e, TINY))) as tf.Scalar;
        if (this.clamp !== null) beta = tf.clipByValue(beta, this.clamp.min, this.clamp.max) as tf.Scalar;
        // Step 7 in the cheap form: <g_avg, F^-1 g_comb> = a + beta D and
        // <g_comb, F^-1 g_comb> = a + 2 beta D + beta^2 E.
        const betaD = tf.mul(beta, d);
        const betaSqE = tf.mul(tf.square(beta), e);
        const num = tf.mul(tf.add(a, betaD), this.etaScale);
        const den = tf.add(tf.add(a, tf.mul(betaD, 2)), betaSqE);
        // |2 beta D| <= 2 sqrt(a beta^2 E) <= a + beta^2 E, so den <= 2 (a + beta^2 E).
        const eta = tf.div(num, guard(den as tf.Scalar, tf.mul(tf.add(a, betaSqE), 2) as tf.Scalar, eps)) as tf.Scalar;
        // Step 8: d = eta* F^-1 g_comb = eta* p_avg + (eta* beta*) p_perp. With beta* = 0 and
        // eta* = 1 this is p_avg bit for bit (KFAC on the mean).
        const etaBeta = tf.mul(eta, beta);
        for (const p of b.params) directions[p] = tf.add(tf.mul(eta, pAvg[p]), tf.mul(etaBeta, pPerp[p]));
        if (this.readDiagnostics) {
          diag.push(sOf[i], beta, eta, blockDot(gPerp, gPerp, b.params), blockDot(gAvg, gAvg, b.params));
        }
      });
      // Parameters outside every block: the plain mean gradient (spec: non-Dense/Conv layers).
      for (const p of free) directions[p] = tf.clone(gAvg[p]);
      if (diag.length > 0) diagTensor = tf.keep(tf.stack(diag));
      return { directions, meanGrads: gAvg };
    });

    // Assigned inside the tidy's callback, which control-flow analysis does not follow.
    const packed = diagTensor as tf.Tensor | null;
    if (packed === null) return { directions: out.directions, meanGrads: out.meanGrads, diagnostics: {} };
    // The single device-to-host read of the step, awaited outside the tidy (a tidy cannot span an
    // await).
    let v: Float32Array;
    try {
      v = (await packed.data()) as Float32Array;
    } catch (cause) {
      // The caller never receives the step's tensors, so they are released here.
      tf.dispose([...Object.values(out.directions), ...Object.values(out.meanGrads)]);
      // @natgrad/backends already reports WebGPU validation errors and device loss this way.
      if (cause instanceof NatgradError) throw cause;
      throw new NatgradError('DEVICE_ERROR', `${this.name}: reading the per-block diagnostics failed.`, {
        expected: 'a readable tensor of s, beta*, eta* and the norms per block',
        received: cause instanceof Error ? cause.message : describeValue(cause),
        fix: 'check that the backend device is still alive (WebGPU device lost?), or pass diagnostics: false',
        cause,
      });
    } finally {
      packed.dispose();
    }
    const diagnostics: Record<string, ProjectionDiagnostics> = {};
    blocks.forEach((b, i) => {
      const o = i * DIAG_FIELDS;
      const perp = Math.sqrt(v[o + 3]);
      const avg = Math.sqrt(v[o + 4]);
      diagnostics[b.name] = {
        s: v[o],
        beta: v[o + 1],
        eta: v[o + 2],
        perpRatio: avg > 0 ? perp / avg : perp > 0 ? Number.POSITIVE_INFINITY : 0,
      };
    });
    return { directions: out.directions, meanGrads: out.meanGrads, diagnostics };
  }
}

/**
 * FOP as a projection strategy (2 sub-batches). Per curvature block it costs one F v product
 * (undamped) and two preconditioner applications; parameters in no block step with g_avg.
 */
export function fisherOrthogonal(options: FisherOrthogonalOptions = {}): ProjectionStrategy {
  if (options === null || typeof options !== 'object') {
    throw invalid('options', 'an options object', options, 'call fisherOrthogonal() or fisherOrthogonal({ eps: 1e-12 })');
  }
  const known = new Set(['eps', 'etaNumerator', 'betaClamp', 'diagnostics']);
  for (const k of Object.keys(options)) {
    if (!known.has(k)) throw invalid('option', `one of ${[...known].join(', ')}`, k, `remove "${k}"`);
  }
  const eps = options.eps ?? 1e-12;
  if (typeof eps !== 'number' || !Number.isFinite(eps) || eps <= 0 || eps >= 1) {
    throw invalid('eps', 'a number in (0, 1)', eps, 'use the default 1e-12 or another small relative guard');
  }
  const etaNumerator = options.etaNumerator ?? 'mean';
  if (etaNumerator !== 'mean' && etaNumerator !== 'sum') {
    throw invalid('etaNumerator', "'mean' or 'sum'", etaNumerator, "use 'mean' (eta* in [1/2, 1]) or 'sum'");
  }
  let clamp: { min: number; max: number } | null = null;
  const c = options.betaClamp;
  if (typeof c === 'number') {
    if (!Number.isFinite(c) || c < 0) throw invalid('betaClamp', 'a finite number >= 0', c, 'pass e.g. betaClamp: 1');
    clamp = { min: -c, max: c };
  } else if (c !== undefined) {
    const ok =
      c !== null && typeof c === 'object' && Number.isFinite(c.min) && Number.isFinite(c.max) && c.min <= 0 && c.max >= 0;
    if (!ok) throw invalid('betaClamp', '{ min, max } with finite min <= 0 <= max', c, 'pass e.g. { min: 0, max: 1 }');
    clamp = { min: c.min, max: c.max };
  }
  const diagnostics = options.diagnostics ?? true;
  if (typeof diagnostics !== 'boolean') throw invalid('diagnostics', 'a boolean', diagnostics, 'pass true or false');
  // g_tot = g1 + g2 = 2 g_avg: the 'sum' numerator is twice the 'mean' one.
  return new FisherOrthogonalProjection(eps, etaNumerator === 'sum' ? 2 : 1, clamp, diagnostics);
}
