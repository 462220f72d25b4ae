/**
 * The curvature phases of a step and when they run (docs/architecture.md: cadences are the
 * trainer's, estimators only fold in a batch and refresh their cache; fop-spec.md, "Curvature
 * cadence": statistics and inverses on their own intervals). Statistics are folded in
 * every `statisticsEvery` steps and inverses refreshed every `inverseEvery` steps, and both on
 * their first opportunity, so that the first step already has a preconditioner. The counts are
 * part of the checkpoint: a resumed run keeps the same schedule.
 */
import * as tf from './tf';
import type { CurvatureEstimator } from '@natgrad/core';
import { allFinite, disposeMap, meanMaps, mergeCaptures } from './step';
import type { StepTensors } from './step-tensors';

export class CurvatureCadence {
  /** Statistics updates and inverse refreshes done so far. */
  statisticsUpdates = 0;
  inverseRefreshes = 0;

  constructor(
    readonly statisticsEvery: number,
    readonly inverseEvery: number,
  ) {}

  statisticsDue(step: number): boolean {
    return this.statisticsUpdates === 0 || step % this.statisticsEvery === 0;
  }

  /** An inverse needs statistics to invert. */
  inversesDue(step: number): boolean {
    return (this.inverseRefreshes === 0 || step % this.inverseEvery === 0) && this.statisticsUpdates > 0;
  }
}

/**
 * Completes a restore whose inverse cache setState() could not rebuild (a KFAC state saved in the
 * other damping mode: setState is synchronous and the rebuild reads the device), at the damping
 * the estimator names in pendingRefresh. It must run before the next statistics update, so that
 * the cache comes from the restored statistics, as the checkpoint's own refresh did.
 */
export async function finishPendingRefresh(curvature: CurvatureEstimator | null): Promise<void> {
  const damping = curvature?.pendingRefresh;
  if (curvature !== null && damping !== undefined && damping !== null) await curvature.refreshInverses(damping);
}

/**
 * Headroom of the statistics check below: a Conv2D patch repeats an input value at most
 * kernel-area times (2^10 covers 32x32 kernels), and the EMA, its debiasing (1/(1-decay)) and the
 * damped inverse need room above the batch's Gram entries; 2^20 covers all of them.
 */
const GRAM_HEADROOM = 2 ** 20;

/**
 * Whether the loss, gradients and captures are all finite AND the captures' Gram products (the
 * KFAC factors XᵀX, the diagonal Fisher's squares) will be (one device read, awaited). The
 * statistics must never fold in a non-finite batch, or the curvature EMA would be poisoned for
 * every later step and saved as resume state. Finite captures are not enough: activations of
 * 1e19 are finite but their squares overflow float32. By Cauchy–Schwarz every entry of XᵀX is at
 * most the sum of squares of X, so checking that sum (times the batch size, which scales the
 * output-side factor, and a headroom) bounds every statistic (and the product of the two sums
 * bounds the diagonal Fisher's squared per-example gradients); a NaN or Inf anywhere in X makes the
 * sum non-finite too, so this replaces the element-wise check at the same cost.
 */
export async function statisticsInputsFinite(loss: tf.Scalar, t: StepTensors, batchSize: number): Promise<boolean> {
  const scale = batchSize * GRAM_HEADROOM;
  const flag = tf.tidy(() => {
    const bounds = t.captures.flatMap((c) =>
      Object.values(c).flatMap((lc) => {
        const sx = tf.sum(tf.square(lc.input));
        const sd = tf.sum(tf.square(lc.outputGrad));
        // The diagonal Fisher squares per-example gradients (batchSize·δ)·x: their product.
        return [tf.mul(sx, scale), tf.mul(sd, scale), tf.mul(tf.mul(sx, sd), scale * batchSize)];
      }),
    );
    return allFinite([loss, ...t.grads.flatMap((g) => Object.values(g)), ...bounds]);
  });
  try {
    return (await flag.data())[0] === 1;
  } finally {
    flag.dispose();
  }
}

/**
 * Folds the whole batch (all sub-batches as one) into the curvature statistics. The merged tensors
 * live until the estimator's promise settles (it may read them after an await).
 */
export async function foldStatistics(curvature: CurvatureEstimator, t: StepTensors, batchSize: number): Promise<void> {
  // One sub-batch: its captures and gradients are the batch's, passed as they are (no copies:
  // clones are real copies on wasm, ~40 MB per step on a 784-512 MLP at batch 4096).
  const single = t.xs.length === 1;
  const merged = t.captures.length === 0 ? {} : single ? t.captures[0] : mergeCaptures(t.captures);
  const grads = single ? t.grads[0] : meanMaps(t.grads);
  try {
    await curvature.updateStatistics({ captures: merged, grads, batchSize });
  } finally {
    if (!single) {
      disposeMap(merged);
      disposeMap(grads);
    }
  }
}
