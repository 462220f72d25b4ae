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
import * as tf from '@tensorflow/tfjs-core';
import type { Conv2DLayerInfo, LayerCapture, LayerInfo } from '@natgrad/core';
import { matMulTransposeA } from '../shared/matmul';
import { extractPatchesChannelMajor, kernelOrder } from './patches';

/**
 * The layer's input rows, NOT bias-augmented: [N*L, P]. For Conv2D the columns are in the
 * channel-major order of extractPatchesChannelMajor; toKernelOrder() maps results back. Caller owns it.
 */
export function inputRows(layer: LayerInfo, input: tf.Tensor): tf.Tensor2D {
  if (layer.kind === 'dense') return tf.reshape(input, [-1, layer.inputSize]);
  return extractPatchesChannelMajor(input as tf.Tensor4D, layer);
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

/** Whether channel-major and kernel order differ (Conv2D with several taps and input channels). */
export function hasKernelPermutation(layer: LayerInfo): layer is Conv2DLayerInfo {
  return layer.kind === 'conv2d' && layer.kernelSize[0] * layer.kernelSize[1] > 1 && layer.inChannels > 1;
}

/**
 * Reorders the input-side axes of a statistic computed from inputRows (channel-major for Conv2D)
 * into kernel order; `axes` lists which axes are input-side (A: both, a per-example product: one).
 * Works with or without the trailing bias entry. Identity for Dense and single-tap convolutions.
 */
export function toKernelOrder<T extends tf.Tensor>(layer: LayerInfo, m: T, axes: readonly number[]): T {
  if (!hasKernelPermutation(layer)) return m;
  const index = kernelOrderIndex(layer, m.shape[axes[0]]);
  return tf.tidy(() => axes.reduce<tf.Tensor>((t, axis) => tf.gather(t, index, axis), m)) as T;
}

/** toKernelOrder's gather index for an input-side axis of `size` entries (with or without the bias entry last). */
export function kernelOrderIndex(layer: Conv2DLayerInfo, size: number): number[] {
  const order = kernelOrder(layer);
  return size === order.length ? order : [...order, order.length];
}

/**
 * sum_n a_n a_n^T of the bias-augmented rows from the transposed rows xT [P, R] and the rows x
 * [R, P] without materialising [x, 1]: [[xT x, xT 1], [1^T x, R]] (the bias column of the
 * augmented Gram product is the row sum of xT).
 */
function augmentedGramFromTransposed(layer: LayerInfo, xT: tf.Tensor2D, x: tf.Tensor2D): tf.Tensor2D {
  const gram = tf.matMul(xT, x);
  if (layer.bias === null) return gram as tf.Tensor2D;
  const s = tf.sum(xT, 1, true);
  const corner = tf.fill([1, 1], x.shape[0]);
  return tf.concat([tf.concat([gram, s], 1), tf.concat([tf.transpose(s), corner], 1)], 0) as tf.Tensor2D;
}

/**
 * A and G of one batch (formulas in the module header), A in kernel order. The caller owns both.
 * A Dense capture that carries inputTransposed / outputGradTransposed (formed by the capture's
 * backward anyway) skips the transposes the products would need; the values are the same products.
 */
export function batchFactors(layer: LayerInfo, capture: LayerCapture, batchSize: number): { a: tf.Tensor2D; g: tf.Tensor2D } {
  return tf.tidy(() => {
    const dense = layer.kind === 'dense';
    const rows = inputRows(layer, capture.input);
    const aaT =
      dense && capture.inputTransposed
        ? augmentedGramFromTransposed(layer, capture.inputTransposed as tf.Tensor2D, rows)
        : tf.tidy(() => {
            const a = augment(layer, rows);
            return matMulTransposeA(a, a);
          });
    const g = outputRows(layer, capture.outputGrad);
    const ggT = dense && capture.outputGradTransposed ? tf.matMul(capture.outputGradTransposed as tf.Tensor2D, g) : matMulTransposeA(g, g);
    return {
      a: toKernelOrder(layer, tf.div(aaT, rows.shape[0]) as tf.Tensor2D, [0, 1]),
      g: tf.mul(ggT, batchSize) as tf.Tensor2D,
    };
  });
}
