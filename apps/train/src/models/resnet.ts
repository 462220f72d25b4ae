/**
 * A small ResNet for CIFAR-10 (He et al., "Deep Residual Learning for Image Recognition", 2016,
 * section 4.2 layout, shortened): a 3x3 stem, three stages of one basic block each (c, 2c, 4c
 * channels, stride 2 between stages, 1x1 projection shortcuts when the shape changes), global
 * average pooling and a Dense classifier. No BatchNorm: its moving statistics are not updated by
 * a custom training step in tfjs-layers, and every Conv2D/Dense layer here gets a KFAC block.
 */
import * as tf from '@tensorflow/tfjs';
import type { ModelOptions } from './model-options';

function basicBlock(x: tf.SymbolicTensor, filters: number, stride: number, name: string, seed: number): tf.SymbolicTensor {
  const inChannels = x.shape[x.shape.length - 1];
  const conv = (f: number, k: number, s: number, n: string, act: 'relu' | 'linear', sd: number) =>
    tf.layers.conv2d({ filters: f, kernelSize: k, strides: s, padding: 'same', activation: act, name: n, kernelInitializer: tf.initializers.heNormal({ seed: sd }) });
  let y = conv(filters, 3, stride, `${name}_conv1`, 'relu', seed).apply(x) as tf.SymbolicTensor;
  y = conv(filters, 3, 1, `${name}_conv2`, 'linear', seed + 1).apply(y) as tf.SymbolicTensor;
  const shortcut = stride !== 1 || inChannels !== filters ? (conv(filters, 1, stride, `${name}_proj`, 'linear', seed + 2).apply(x) as tf.SymbolicTensor) : x;
  const sum = tf.layers.add({ name: `${name}_add` }).apply([y, shortcut]) as tf.SymbolicTensor;
  return tf.layers.activation({ activation: 'relu', name: `${name}_relu` }).apply(sum) as tf.SymbolicTensor;
}

export function buildResnet(opts: ModelOptions): tf.LayersModel {
  const c = opts.width ?? 16;
  const input = tf.input({ shape: opts.inputShape, name: 'image' });
  let x = tf.layers
    .conv2d({ filters: c, kernelSize: 3, padding: 'same', activation: 'relu', name: 'stem', kernelInitializer: tf.initializers.heNormal({ seed: opts.seed }) })
    .apply(input) as tf.SymbolicTensor;
  x = basicBlock(x, c, 1, 'stage1', opts.seed + 10);
  x = basicBlock(x, 2 * c, 2, 'stage2', opts.seed + 20);
  x = basicBlock(x, 4 * c, 2, 'stage3', opts.seed + 30);
  x = tf.layers.globalAveragePooling2d({ name: 'pool' }).apply(x) as tf.SymbolicTensor;
  const out = tf.layers
    .dense({ units: opts.numClasses, activation: opts.outputActivation, name: 'logits', kernelInitializer: tf.initializers.glorotUniform({ seed: opts.seed + 40 }) })
    .apply(x) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out, name: 'resnet' });
}
