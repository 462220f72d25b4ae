/**
 * average(): precondition the mean of k sub-batch gradients. Because every sub-batch gradient is a
 * mean-loss gradient over an equal share of the batch, their mean is exactly the full-batch mean
 * gradient, so average() is KFAC on the whole batch (up to float rounding) for models whose
 * per-example losses do not interact (no BatchNorm). It exists as FOP's baseline: same
 * sub-batching, same curvature, only the combination rule differs.
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type CurvatureView,
  NatgradError,
  type ParamMap,
  type ProjectionResult,
  type ProjectionStrategy,
  describeValue,
  sumTensors,
} from '@natgrad/core';
import { applyView, blockParams, partitionBlocks, pick, validateSubBatchGrads } from '../internal/param-blocks';

export interface AverageOptions {
  /** Number of equal, disjoint sub-batches (default 2, FOP's split, for like-for-like comparisons). */
  subBatches?: number;
}

class AverageProjection implements ProjectionStrategy {
  readonly name = 'average';
  readonly subBatches: number;

  constructor(subBatches: number) {
    this.subBatches = subBatches;
  }

  async combine(subBatchGrads: readonly ParamMap[], curvature: CurvatureView): Promise<ProjectionResult> {
    const names = validateSubBatchGrads(this.name, subBatchGrads, this.subBatches);
    const { blocks, free } = partitionBlocks(this.name, curvature, names);
    const k = this.subBatches;
    return tf.tidy(() => {
      const meanGrads: ParamMap = {};
      for (const p of names) {
        const parts = subBatchGrads.map((g) => g[p]);
        // sumTensors, not tf.addN: k >= 8 sub-batches would exceed WebGPU's storage buffers per
        // shader stage (same op as addN for k <= 7, so cpu results are unchanged).
        meanGrads[p] = k === 1 ? tf.clone(parts[0]) : tf.div(sumTensors(parts), k);
      }
      const pre = applyView(this.name, curvature, 'precondition', pick(meanGrads, blockParams(blocks)));
      const directions: ParamMap = {};
      for (const p of blockParams(blocks)) directions[p] = pre[p];
      for (const p of free) directions[p] = tf.clone(meanGrads[p]);
      return { directions, meanGrads, diagnostics: {} };
    });
  }
}

/** Preconditions the mean of `subBatches` (default 2) sub-batch gradients. */
export function average(options: AverageOptions = {}): ProjectionStrategy {
  if (options === null || typeof options !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', 'average(): options must be an object.', {
      expected: '{ subBatches?: number }',
      received: describeValue(options),
      fix: 'call average() or average({ subBatches: 2 })',
    });
  }
  const k = options.subBatches ?? 2;
  if (!Number.isInteger(k) || k < 1) {
    throw new NatgradError('INVALID_ARGUMENT', 'average(): subBatches must be a positive integer.', {
      expected: 'an integer >= 1',
      received: describeValue(k),
      fix: 'pass e.g. { subBatches: 2 }',
    });
  }
  return new AverageProjection(k);
}
