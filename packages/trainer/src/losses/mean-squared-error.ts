/**
 * Mean squared error, averaged over every element (as tfjs-layers: mean over the last axis, then
 * over the batch). Per example n with M = elements per example, l_n = (1/M) ||y_n - p_n||^2, which
 * is exactly the negative log-likelihood (up to a constant) of the Gaussian y_n ~ N(p_n, (M/2) I).
 * That Gaussian is the model's predictive distribution, so `sampleTargets` returns
 * p + sqrt(M/2) * N(0, 1) noise (seeded, on the device). With that variance the sampled Fisher
 * E[g g^T] = (2/M)^2 (M/2) I = (2/M) I equals the Gauss-Newton matrix of this loss; unit-variance
 * noise would overstate it by a factor 2/M.
 */
import * as tf from '../tf';
import type { LossFunction } from '@natgrad/core';
import { assertPredictions, assertSameShape, assertTensor, deviceSeed } from './validate';

/** Standard deviation of the Gaussian predictive distribution implied by the MSE loss. */
function mseNoiseStd(predictions: tf.Tensor): number {
  const perExample = predictions.size / predictions.shape[0];
  return Math.sqrt(perExample / 2);
}

export function meanSquaredError(): LossFunction {
  const name = 'meanSquaredError';
  return {
    name,
    compute(targets, predictions) {
      assertPredictions(predictions, name, 1);
      assertTensor(targets, 'targets', name);
      assertSameShape(targets, predictions, name);
      return tf.tidy(() => tf.mean(tf.squaredDifference(tf.cast(targets, 'float32'), predictions)) as tf.Scalar);
    },
    sampleTargets(predictions, seed) {
      assertPredictions(predictions, name, 1);
      const s = deviceSeed(seed, name);
      return tf.tidy(() => tf.add(predictions, tf.randomNormal(predictions.shape, 0, mseNoiseStd(predictions), 'float32', s)));
    },
  };
}
