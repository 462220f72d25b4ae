/**
 * A two-hidden-layer perceptron: the cheapest model that every curvature estimator supports
 * (Dense layers only), used for quick comparisons and the tiny end-to-end tests.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './model-options';

export function buildMlp(opts: ModelOptions): tf.LayersModel {
  const hidden = opts.width ?? 128;
  const model = tf.sequential({ name: 'mlp' });
  model.add(tf.layers.flatten({ inputShape: opts.inputShape, name: 'flatten' }));
  model.add(tf.layers.dense({ units: hidden, activation: 'relu', name: 'dense1', kernelInitializer: tf.initializers.heNormal({ seed: opts.seed }) }));
  // Half the width, rounded up: an odd --width must not give tfjs a fractional unit count.
  model.add(tf.layers.dense({ units: Math.ceil(hidden / 2), activation: 'relu', name: 'dense2', kernelInitializer: tf.initializers.heNormal({ seed: opts.seed + 1 }) }));
  model.add(tf.layers.dense({ units: opts.numClasses, activation: opts.outputActivation, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed + 2 }) }));
  return model;
}
