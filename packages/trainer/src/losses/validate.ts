/**
 * Input checks shared by the losses: every bad target or prediction tensor becomes a NatgradError
 * that names the loss, instead of a tfjs shape error deep inside a gradient tape.
 */
import type * as tf from '../tf';
import { NatgradError, describeValue } from '@natgrad/core';

export function assertTensor(value: unknown, what: string, loss: string): asserts value is tf.Tensor {
  const v = value as { shape?: unknown; dtype?: unknown } | null;
  if (v === null || typeof v !== 'object' || !Array.isArray(v.shape) || typeof v.dtype !== 'string') {
    throw new NatgradError('INVALID_ARGUMENT', `${loss}: ${what} is not a tensor.`, {
      expected: `${what} as a tf.Tensor`,
      received: describeValue(value),
      fix: `pass ${what} as a tf.Tensor (e.g. tf.tensor2d(...))`,
    });
  }
}

export function assertPredictions(predictions: unknown, loss: string, minRank: number): asserts predictions is tf.Tensor {
  assertTensor(predictions, 'predictions', loss);
  if (predictions.rank < minRank) {
    throw new NatgradError('SHAPE_MISMATCH', `${loss}: predictions have too few dimensions.`, {
      expected: `predictions of rank >= ${minRank} ([batch, ...])`,
      received: describeValue(predictions),
      fix: 'pass the model output batch, whose first axis is the batch',
    });
  }
}

export function assertSameShape(targets: tf.Tensor, predictions: tf.Tensor, loss: string): void {
  const same =
    targets.rank === predictions.rank && targets.shape.every((d, i) => d === predictions.shape[i]);
  if (!same) {
    throw new NatgradError('SHAPE_MISMATCH', `${loss}: targets and predictions differ in shape.`, {
      expected: `targets of shape [${predictions.shape.join(',')}] (the predictions' shape)`,
      received: describeValue(targets),
      fix:
        loss === 'categoricalCrossentropy'
          ? 'one-hot encode integer labels (tf.oneHot) or use sparseCategoricalCrossentropy'
          : 'reshape the targets to the shape of the model output',
    });
  }
}

/**
 * tfjs' seeded samplers treat a seed of 0 as "no seed" (fresh randomness every call), so seeds are
 * shifted by one to keep seed 0 deterministic like every other seed.
 */
export function deviceSeed(seed: number, loss: string): number {
  if (!Number.isInteger(seed) || seed < 0 || seed > 2 ** 31 - 2) {
    throw new NatgradError('INVALID_ARGUMENT', `${loss}: invalid sampling seed.`, {
      expected: 'an integer seed in [0, 2^31 - 2]',
      received: describeValue(seed),
      fix: 'derive the seed from the step counter, e.g. baseSeed + step',
    });
  }
  return seed + 1;
}
