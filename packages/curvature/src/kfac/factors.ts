/**
 * One batch's Kronecker factors of a layer (Martens & Grosse 2015, "Optimizing Neural Networks with
 * Kronecker-factored Approximate Curvature", eq. 1 and sec. 3; Conv2D: Grosse & Martens 2016, KFC,
 * sec. 3.1, under their spatially-uncorrelated-derivatives and spatial-homogeneity assumptions).
 *
 * With N examples, a_{n,t} the (bias-augmented) input row at location t of example n (Dense: one
 * location, or the flattened leading dims), L locations per example, and g_{n,t} = N * outputGrad
 * (the gradient of example n's OWN loss, since outputGrad is taken of the batch MEAN loss):
 *   A = 1/(N L) sum_{n,t} a_{n,t} a_{n,t}^T              (mean over batch x locations)
 *   G = 1/N     sum_{n,t} g_{n,t} g_{n,t}^T = N * sum_{n,t} outputGrad outputGrad^T
 *                                                         (sum over locations, mean over batch)
 * so that A (x) G approximates F = 1/N sum_n vec(dW_n) vec(dW_n)^T with dW_n = sum_t a_{n,t} g_{n,t}^T
 * (exact for a Dense layer and a single example). Putting the location count into G keeps the KFC
 * estimate L * Omega (x) Gamma of the paper (eq. 25) without a separate scale.
 */
import * as tf from '@tensorflow/tfjs';
import type { LayerCapture, LayerInfo } from '@natgrad/core';
import { extractPatches } from './patches';

/** The layer's input rows (patches for Conv2D), NOT bias-augmented: [N*L, P]. Caller owns it. */
export function inputRows(layer: LayerInfo, input: tf.Tensor): tf.Tensor2D {
  if (layer.kind === 'dense') return tf.reshape(input, [-1, layer.inputSize]);
  return extractPatches(input as tf.Tensor4D, layer);
}

/** Output gradients as [N*L, out] rows in the same (n, y, x) order as inputRows. Caller owns it. */
export function outputRows(layer: LayerInfo, outputGrad: tf.Tensor): tf.Tensor2D {
  const out = layer.kind === 'dense' ? layer.outputSize : layer.outChannels;
  return tf.reshape(outputGrad, [-1, out]);
}

/** Bias augmentation: appends a column of ones when the layer has a bias (call inside tidy). */
export function augment(layer: LayerInfo, rows: tf.Tensor2D): tf.Tensor2D {
  if (layer.bias === null) return rows;
  return tf.concat([rows, tf.ones([rows.shape[0], 1])], 1);
}

/** A and G of one batch (formulas in the module header). The caller owns both tensors. */
export function batchFactors(layer: LayerInfo, capture: LayerCapture, batchSize: number): { a: tf.Tensor2D; g: tf.Tensor2D } {
  return tf.tidy(() => {
    const a = augment(layer, inputRows(layer, capture.input));
    const g = outputRows(layer, capture.outputGrad);
    return {
      a: tf.div(tf.matMul(a, a, true, false), a.shape[0]) as tf.Tensor2D,
      g: tf.mul(tf.matMul(g, g, true, false), batchSize) as tf.Tensor2D,
    };
  });
}
