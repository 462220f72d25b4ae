/**
 * Sparse categorical cross-entropy: the targets are integer class indices of shape
 * predictions.shape minus the class axis (a trailing axis of size 1 is accepted, like Keras).
 * Same loss value and predictive distribution as categoricalCrossentropy; `sampleTargets` returns
 * int32 class indices, drawn on the device like categoricalCrossentropy's (inverse CDF).
 */
import * as tf from '../tf';
import { NatgradError, describeValue } from '@natgrad/core';
import type { LossFunction } from '@natgrad/core';
import { type CrossEntropyOptions, rowCrossEntropy, sampleClasses } from './categorical';
import { assertPredictions, assertTensor, deviceSeed } from './validate';

function labelShapeMatches(labels: tf.Tensor, predictions: tf.Tensor): boolean {
  const want = predictions.shape.slice(0, -1);
  const got = labels.rank === want.length + 1 && labels.shape[labels.rank - 1] === 1 ? labels.shape.slice(0, -1) : labels.shape;
  return got.length === want.length && got.every((d, i) => d === want[i]);
}

export function sparseCategoricalCrossentropy(options: CrossEntropyOptions = {}): LossFunction {
  const fromLogits = options.fromLogits === true;
  const name = 'sparseCategoricalCrossentropy';
  return {
    name: fromLogits ? `${name}(fromLogits)` : name,
    compute(targets, predictions) {
      assertPredictions(predictions, name, 2);
      assertTensor(targets, 'targets', name);
      if (!labelShapeMatches(targets, predictions)) {
        throw new NatgradError('SHAPE_MISMATCH', `${name}: labels do not match the predictions.`, {
          expected: `integer labels of shape [${predictions.shape.slice(0, -1).join(',')}] (optionally with a trailing 1)`,
          received: describeValue(targets),
          fix: 'pass class indices, not one-hot rows (use categoricalCrossentropy for one-hot targets)',
        });
      }
      const classes = predictions.shape[predictions.rank - 1];
      return tf.tidy(() => {
        // floor() like tfjs-layers, so float-typed integer labels are accepted.
        const indices = tf.reshape(tf.cast(tf.floor(tf.cast(targets, 'float32')), 'int32'), predictions.shape.slice(0, -1));
        return tf.mean(rowCrossEntropy(tf.oneHot(indices, classes), predictions, fromLogits)) as tf.Scalar;
      });
    },
    sampleTargets(predictions, seed) {
      assertPredictions(predictions, name, 2);
      const s = deviceSeed(seed, name);
      return tf.tidy(() => tf.cast(sampleClasses(predictions, fromLogits, s), 'int32'));
    },
  };
}
