/**
 * The first phase of a step (fop-spec.md, "One step", step 1): the batch is split into the
 * projection's k equal, disjoint sub-batches, and each gets one forward/backward through the
 * layer capture, which also records layer inputs and output gradients on statistics steps.
 */
import * as tf from './tf';
import { type FisherType, type LossFunction, NatgradError, type ProjectionStrategy, sumTensors } from '@natgrad/core';
import type { ModelCapture } from './capture/index';
import { correctCount } from './step';
import type { StepTensors } from './step-tensors';

/** The batch size, after checking it splits into the projection's sub-batches. */
export function checkSplittable(x: tf.Tensor, projection: ProjectionStrategy): number {
  const k = projection.subBatches;
  const batchSize = x.shape[0];
  if (batchSize === 0 || batchSize % k !== 0) {
    throw new NatgradError('SHAPE_MISMATCH', 'The batch cannot be split into the projection sub-batches.', {
      expected: `a non-empty batch whose size is a multiple of ${k} (projection "${projection.name}")`,
      received: `batch size ${batchSize}`,
      fix: `use a batch size divisible by ${k}`,
    });
  }
  return batchSize;
}

export interface SubBatchOptions {
  /** Record captures (statistics steps of an estimator that reads them). */
  capture: boolean;
  fisher: FisherType;
  /** One seed per sub-batch for the sampled-Fisher labels. */
  seeds: readonly number[];
}

/** Forward/backward of every sub-batch; the results are written to (and owned by) `t`. */
export function forwardBackward(capture: ModelCapture, loss: LossFunction, t: StepTensors, options: SubBatchOptions): void {
  for (let i = 0; i < t.xs.length; i++) {
    const r = capture.computeGradients(t.xs[i], t.ys[i], loss, { capture: options.capture, fisher: options.fisher, seed: options.seeds[i] });
    t.losses.push(r.loss);
    t.grads.push(r.grads);
    t.outputs.push(r.outputs);
    if (r.captures !== null) t.captures.push(r.captures);
  }
}

/** The whole batch's mean loss: the mean of the equal-sized sub-batches' mean losses. */
export function meanLoss(t: StepTensors): tf.Scalar {
  return tf.tidy(() => tf.div(sumTensors(t.losses), tf.scalar(t.losses.length)) as tf.Scalar);
}

/** Correctly classified examples of the whole batch (a device scalar). */
export function correctInBatch(t: StepTensors): tf.Scalar {
  return tf.tidy(() => sumTensors(t.outputs.map((o, i) => correctCount(t.ys[i], o))));
}
