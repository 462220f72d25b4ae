/**
 * The input gradient of a 2D convolution (NHWC) as ONE forward convolution: the transposed
 * convolution identity dx = conv2d(zero-upsampled dy, rot180(W) with in/out channels swapped),
 * with "full" padding kh-1-top (Dumoulin & Visin, "A guide to convolution arithmetic",
 * arXiv 1603.07285, section 4.5-4.6: a strided conv's transpose is a unit-stride conv over the
 * input with s-1 zeros inserted between its rows and columns). The wasm backend's own
 * Conv2DBackpropInput is a plain loop, ~5x slower than its XNNPACK conv2d on the same FLOPs.
 *
 * wasm only: the zero insertion pads a rank-6 tensor, which tfjs-backend-webgpu 4.22 computes
 * wrongly (see webgpu-ops.test.ts); this rewrite is installed as a kernel of the 'wasm' backend
 * alone (wasm-training-kernels.ts), and its tests run it on cpu and wasm.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type FilterGradOps, tensorFilterGradOps } from './conv2d-backprop-filter';

/** Geometry of the forward convolution whose input gradient is wanted (NHWC, dilation 1). */
export interface InputGradGeometry {
  /** [batch, height, width, inChannels] of the forward input. */
  inputShape: [number, number, number, number];
  strides: [number, number];
  pad: { top: number; bottom: number; left: number; right: number };
}

export interface InputGradOps<T> extends FilterGradOps<T> {
  reshape(x: T, shape: number[]): T;
  pad(x: T, paddings: [number, number][]): T;
  reverse(x: T, dims: number[]): T;
}

/** dx of shape inputShape from dy (forward output gradient) and the forward filter. */
export function inputGradient<T>(ops: InputGradOps<T>, dy: T, filter: T, g: InputGradGeometry): T {
  const [b, h, w, ci] = g.inputShape;
  const [kh, kw] = ops.shape(filter);
  const [, ho, wo, co] = ops.shape(dy);
  const [sh, sw] = g.strides;

  // Zero insertion by reshape + pad: [B,Ho,1,Wo,1,C] padded to [B,Ho,sh,Wo,sw,C] puts sh-1 zero
  // rows after every row, including the last, where they merely act as extra bottom padding.
  let up = dy;
  if (sh > 1 || sw > 1) {
    const r6 = ops.reshape(dy, [b, ho, 1, wo, 1, co]);
    const padded = ops.pad(r6, [
      [0, 0],
      [0, 0],
      [0, sh - 1],
      [0, 0],
      [0, sw - 1],
      [0, 0],
    ]);
    ops.dispose(r6);
    up = ops.reshape(padded, [b, ho * sh, wo * sw, co]);
    ops.dispose(padded);
  }
  const [hz, wz] = [ho * sh, wo * sw];

  const flipped = ops.reverse(filter, [0, 1]);
  const wT = ops.transpose(flipped, [0, 1, 3, 2]);
  ops.dispose(flipped);

  // Full padding of the transposed conv; a negative side (forward pad larger than kh-1, or the
  // trailing zeros overshooting) is applied as a crop of the result instead.
  const top = kh - 1 - g.pad.top;
  const left = kw - 1 - g.pad.left;
  const bottom = h - hz - top + kh - 1;
  const right = w - wz - left + kw - 1;
  const conv = ops.conv2d(
    up,
    wT,
    [1, 1],
    [1, 1],
    [
      [0, 0],
      [Math.max(0, top), Math.max(0, bottom)],
      [Math.max(0, left), Math.max(0, right)],
      [0, 0],
    ],
  );
  if (up !== dy) ops.dispose(up);
  ops.dispose(wT);
  const cs = ops.shape(conv);
  if (cs[1] === h && cs[2] === w) return conv;
  const out = ops.slice(conv, [0, Math.max(0, -top), Math.max(0, -left), 0], [b, h, w, ci]);
  ops.dispose(conv);
  return out;
}

/** The same rewrite as tf ops; used to test it against the definition on cpu (not for webgpu: rank-6 pad). */
export const tensorInputGradOps: InputGradOps<tf.Tensor> = {
  ...(tensorFilterGradOps as unknown as FilterGradOps<tf.Tensor>),
  reshape: (x, shape) => tf.reshape(x, shape),
  pad: (x, paddings) => tf.pad(x, paddings),
  reverse: (x, dims) => tf.reverse(x, dims),
};
