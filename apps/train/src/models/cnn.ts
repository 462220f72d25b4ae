/**
 * The small MNIST CNN: two stride-2 3x3 convolutions (16 and 32 channels) and one Dense layer,
 * about 28k parameters. Small enough that KFAC/FOP factor inverses (at most 289x289) and a full
 * epoch of the 8k embedded digits stay cheap on two CPU cores, yet it reaches ~97% on MNIST.
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
  model.add(tf.layers.flatten({ name: 'flatten' }));
  model.add(tf.layers.dense({ units: opts.numClasses, activation: opts.outputActivation, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed + 2 }) }));
  return model;
}
