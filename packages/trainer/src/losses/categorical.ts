/**
 * Categorical cross-entropy over the last axis, from softmax probabilities (tfjs' default: the
 * probabilities are renormalised and clipped to [1e-7, 1 - 1e-7] exactly as tf.losses in
 * tfjs-layers do, so the loss value matches `model.compile({loss: 'categoricalCrossentropy'})`) or
 * from logits (`fromLogits`: log-softmax, no clipping). The model's predictive distribution is the
 * categorical given by the probabilities, so `sampleTargets` draws one class per row on the device
 * and returns it one-hot. The draw is inverse-CDF sampling (the first class whose cumulative
 * probability exceeds a seeded tf.randomUniform) rather than tf.multinomial, because tfjs generates
 * seeded uniforms identically on every backend while the wasm Multinomial kernel has its own RNG;
 * the same seed therefore gives the same targets on cpu, wasm and webgl. With these targets the
 * gradient outer products average to the true Fisher, which for rank-2 outputs equals the
 * Gauss-Newton matrix of this loss (Martens 2014, "New insights and perspectives on the natural
 * gradient method", sec. 9.2). For outputs of rank > 2 ([batch, ..., classes]) the loss averages
 * over the extra positions, so the sampled Fisher is that Gauss-Newton matrix divided by the
 * number of positions per example.
 */
import * as tf from '../tf';
import type { LossFunction } from '@natgrad/core';
import { assertPredictions, assertSameShape, assertTensor, deviceSeed } from './validate';

/** tfjs-layers' backend epsilon, used for its probability clipping. */
const TFJS_EPSILON = 1e-7;

export interface CrossEntropyOptions {
  /** Predictions are unnormalised logits (a linear output layer) rather than probabilities. */
  fromLogits?: boolean;
}

/** Per-row cross-entropy -sum(t * log p) over the last axis, shape = predictions.shape minus last. */
export function rowCrossEntropy(oneHot: tf.Tensor, predictions: tf.Tensor, fromLogits: boolean): tf.Tensor {
  const axis = predictions.rank - 1;
  let logP: tf.Tensor;
  if (fromLogits) {
    logP = tf.logSoftmax(predictions, axis);
  } else {
    const normalised = tf.div(predictions, tf.sum(predictions, axis, true));
    logP = tf.log(tf.clipByValue(normalised, TFJS_EPSILON, 1 - TFJS_EPSILON));
  }
  return tf.neg(tf.sum(tf.mul(tf.cast(oneHot, 'float32'), logP), axis));
}

/** int32 class indices drawn from the predictive categorical, shape = predictions.shape minus last. */
export function sampleClasses(predictions: tf.Tensor, fromLogits: boolean, seed: number): tf.Tensor {
  const classes = predictions.shape[predictions.rank - 1];
  const flat = tf.reshape(predictions, [-1, classes]);
  const rows = flat.shape[0];
  const weights = fromLogits ? tf.softmax(flat) : tf.relu(flat);
  const cdf = tf.cumsum(weights, 1);
  // Scaling u by the total mass makes unnormalised probabilities and float rounding harmless.
  const total = tf.slice(cdf, [0, classes - 1], [rows, 1]);
  const u = tf.mul(tf.randomUniform([rows, 1], 0, 1, 'float32', seed), total);
  const below = tf.sum(tf.cast(tf.lessEqual(cdf, u), 'int32'), 1);
  return tf.reshape(tf.minimum(below, classes - 1), predictions.shape.slice(0, -1));
}

export function categoricalCrossentropy(options: CrossEntropyOptions = {}): LossFunction {
  const fromLogits = options.fromLogits === true;
  const name = 'categoricalCrossentropy';
  return {
    name: fromLogits ? `${name}(fromLogits)` : name,
    compute(targets, predictions) {
      assertPredictions(predictions, name, 2);
      assertTensor(targets, 'targets', name);
      assertSameShape(targets, predictions, name);
      return tf.tidy(() => tf.mean(rowCrossEntropy(targets, predictions, fromLogits)) as tf.Scalar);
    },
    sampleTargets(predictions, seed) {
      assertPredictions(predictions, name, 2);
      const s = deviceSeed(seed, name);
      const classes = predictions.shape[predictions.rank - 1];
      return tf.tidy(() => tf.cast(tf.oneHot(tf.cast(sampleClasses(predictions, fromLogits, s), 'int32'), classes), 'float32'));
    },
  };
}
