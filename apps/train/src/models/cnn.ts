/**
 * The small MNIST CNN: two stride-2 3x3 convolutions (16 and 32 channels), a 2x2 average pool and
 * one Dense layer, about 8k parameters. The pool matters for natural-gradient methods: without it
 * the Dense layer's KFAC input factor would be 1569x1569 (7x7x32 + bias) and its inverse would
 * dominate every refresh on a CPU; with it the largest factor is 289x289.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './model-options';

export function buildCnn(opts: ModelOptions): tf.LayersModel {
  const c = opts.width ?? 16;
  const model = tf.sequential({ name: 'cnn' });
  model.add(
    tf.layers.conv2d({
      inputShape: opts.inputShape,
      filters: c,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      name: 'conv1',
      kernelInitializer: tf.initializers.heNormal({ seed: opts.seed }),
    }),
  );
  model.add(
    tf.layers.conv2d({
      filters: 2 * c,
      kernelSize: 3,
      strides: 2,
      padding: 'same',
      activation: 'relu',
      name: 'conv2',
      kernelInitializer: tf.initializers.heNormal({ seed: opts.seed + 1 }),
    }),
  );
  model.add(tf.layers.averagePooling2d({ poolSize: 2, strides: 2, name: 'pool' }));
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: opts.numClasses, activation: opts.outputActivation, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed + 2 }) }));
  return model;
}
