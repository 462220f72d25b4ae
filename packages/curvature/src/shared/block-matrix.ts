/**
 * A layer's parameters as one block matrix W~ = [kernel flattened to [P, out]; bias as the last
 * row] of shape [P (+1), out], the layout in which a Kronecker block acts as F w = A W~ G.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { LayerInfo } from '@natgrad/core';

export function kernelShape(layer: LayerInfo): number[] {
  return layer.kind === 'dense'
    ? [layer.inputSize, layer.outputSize]
    : [layer.kernelSize[0], layer.kernelSize[1], layer.inChannels, layer.outChannels];
}

export function outSize(layer: LayerInfo): number {
  return layer.kind === 'dense' ? layer.outputSize : layer.outChannels;
}

/** Stacks kernel and bias into W~ (call inside tidy). */
export function toBlockMatrix(layer: LayerInfo, kernel: tf.Tensor, bias: tf.Tensor | undefined): tf.Tensor2D {
  const out = outSize(layer);
  const k = tf.reshape(kernel, [-1, out]) as tf.Tensor2D;
  return bias === undefined ? k : tf.concat([k, tf.reshape(bias, [1, out])], 0);
}

/** Splits W~ back into kernel and bias tensors of the variables' shapes (call inside tidy). */
export function fromBlockMatrix(layer: LayerInfo, block: tf.Tensor2D): { kernel: tf.Tensor; bias?: tf.Tensor } {
  const rows = block.shape[0] - (layer.bias === null ? 0 : 1);
  const out = outSize(layer);
  const kernel = tf.reshape(tf.slice(block, [0, 0], [rows, out]), kernelShape(layer));
  if (layer.bias === null) return { kernel };
  return { kernel, bias: tf.reshape(tf.slice(block, [rows, 0], [1, out]), [out]) };
}
