/**
 * The forward of a registered layer written out so that its pre-activation is a tensor of its own:
 * Dense: pre = a W (+ b), inputs of rank > 2 flattened to [rows, inputSize] like tfjs' K.dot;
 * Conv2D (channelsLast): pre = conv2d(a, W) (+ b). A `tap` may replace `pre` by an identity whose
 * backward records d(loss)/d(pre) (capture-tap.ts); the activation is then applied by the layer's
 * own activation object. The result equals the layer's `call` (which fuses the same ops) to float
 * rounding.
 *
 * Dilated Conv2D: tfjs has no gradient for conv2d with dilation > 1 (Conv2D_grad asserts dilation
 * 1), so the dilated kernel is built explicitly — (k-1)*d+1 taps with zeros between the real ones,
 * via concat/reshape/slice, all differentiable — and convolved with dilation 1. That is the same
 * linear map ('same' padding included: the padding depends only on the effective kernel size), so
 * outputs match model.predict, and dilated layers become trainable.
 */
import * as tf from '../tf';
import type { Conv2DLayerInfo, DenseLayerInfo } from '@natgrad/core';
import type { LayerView } from './tfjs-internals';

/** Receives a registered layer's (2-D or 4-D) input and its pre-activation; returns the pre-activation to continue with. */
export type PreActivationTap = (input: tf.Tensor, pre: tf.Tensor) => tf.Tensor;

/** Computes (and captures) a Dense pre-activation rows · kernel (+ bias) in place of the plain ops and a tap. */
export type DenseCapture = (rows: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor | null) => tf.Tensor;

function applyActivation(layer: LayerView, pre: tf.Tensor): tf.Tensor {
  return layer.activation ? layer.activation.apply(pre) : pre;
}

export function denseForward(layer: LayerView, info: DenseLayerInfo, x: tf.Tensor, tap: PreActivationTap | null, capture: DenseCapture | null = null): tf.Tensor {
  const kernel = (layer.kernel as NonNullable<LayerView['kernel']>).read();
  const rows = x.rank === 2 ? x : tf.reshape(x, [-1, info.inputSize]);
  let pre: tf.Tensor;
  if (capture) {
    pre = capture(rows as tf.Tensor2D, kernel as tf.Tensor2D, layer.bias ? layer.bias.read() : null);
  } else {
    pre = tf.matMul(rows as tf.Tensor2D, kernel as tf.Tensor2D);
    if (layer.bias) pre = tf.add(pre, layer.bias.read());
    if (tap) pre = tap(rows, pre);
  }
  if (x.rank !== 2) pre = tf.reshape(pre, [...x.shape.slice(0, -1), info.outputSize]);
  return applyActivation(layer, pre);
}

/** Inserts d-1 zeros between the taps along one spatial axis (0 = height, 1 = width) of an HWIO kernel. */
function dilateAxis(kernel: tf.Tensor4D, axis: 0 | 1, d: number): tf.Tensor4D {
  if (d === 1) return kernel;
  const [kh, kw, cin, cout] = kernel.shape;
  const k = axis === 0 ? kh : kw;
  const withSlot = tf.expandDims(kernel, axis + 1) as tf.Tensor5D;
  const zerosShape = [...withSlot.shape] as [number, number, number, number, number];
  zerosShape[axis + 1] = d - 1;
  const spread = tf.concat([withSlot, tf.zeros(zerosShape)], axis + 1);
  const flatShape: [number, number, number, number] = axis === 0 ? [kh * d, kw, cin, cout] : [kh, kw * d, cin, cout];
  const flat = tf.reshape(spread, flatShape) as tf.Tensor4D;
  const effective = (k - 1) * d + 1;
  const size: [number, number, number, number] = axis === 0 ? [effective, kw, cin, cout] : [flatShape[0], effective, cin, cout];
  return tf.slice(flat, [0, 0, 0, 0], size);
}

function dilatedKernel(kernel: tf.Tensor4D, dilation: [number, number]): tf.Tensor4D {
  return dilateAxis(dilateAxis(kernel, 0, dilation[0]), 1, dilation[1]);
}

export function conv2dForward(layer: LayerView, info: Conv2DLayerInfo, x: tf.Tensor, tap: PreActivationTap | null): tf.Tensor {
  const kernel = (layer.kernel as NonNullable<LayerView['kernel']>).read() as unknown as tf.Tensor4D;
  const filter = info.dilation[0] === 1 && info.dilation[1] === 1 ? kernel : dilatedKernel(kernel, info.dilation);
  let pre: tf.Tensor = tf.conv2d(x as tf.Tensor4D, filter, info.strides, info.padding, 'NHWC', [1, 1]);
  if (layer.bias) pre = tf.add(pre, layer.bias.read());
  if (tap) pre = tap(x, pre);
  return applyActivation(layer, pre);
}
