/**
 * The filter gradient of a 2D convolution, written as ONE forward convolution so that backends
 * with a fast conv2d (XNNPACK in the wasm backend) but no Conv2DBackpropFilter kernel can train
 * conv nets. The identity used is the classic "batch as channels" rewrite of
 *   dW[i,j,c,o] = sum_{b,p,q} xpad[b, p*sh + i*dh, q*sw + j*dw, c] * dy[b,p,q,o]
 * (the definition of the convolution gradient, e.g. Dumoulin & Visin, "A guide to convolution
 * arithmetic", arXiv 1603.07285, section 4): with X' = x as [Ci, H, W, B] and F' = dy as
 * [Ho, Wo, B, Co], dW as [Ci, kh, kw, Co] = conv2d(X', F') where the forward stride becomes the
 * dilation and the forward dilation becomes the stride. The algorithm is written once against a
 * tiny op table so it runs both inside a backend kernel (on raw TensorInfos) and as tf ops.
 */
import * as tf from '@tensorflow/tfjs-core';

/** Geometry of the forward convolution whose filter gradient is wanted (NHWC or NCHW). */
export interface FilterGradGeometry {
  /** [kh, kw, inChannels, outChannels]. */
  filterShape: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  /** Explicit padding of the forward convolution: top, bottom, left, right. */
  pad: { top: number; bottom: number; left: number; right: number };
  dataFormat: 'NHWC' | 'NCHW';
}

/** The four primitives the rewrite needs; `T` is a tf.Tensor or a backend TensorInfo. */
export interface FilterGradOps<T> {
  shape(x: T): readonly number[];
  transpose(x: T, perm: number[]): T;
  /** conv2d NHWC with explicit padding [[0,0],[top,bottom],[left,right],[0,0]]. */
  conv2d(
    x: T,
    filter: T,
    strides: [number, number],
    dilations: [number, number],
    pad: [[number, number], [number, number], [number, number], [number, number]],
  ): T;
  slice(x: T, begin: number[], size: number[]): T;
  dispose(x: T): void;
}

/**
 * dW of shape filterShape from x (forward input) and dy (gradient of the forward output).
 * Intermediates are released through ops.dispose; the caller owns only the result.
 */
export function filterGradient<T>(ops: FilterGradOps<T>, x: T, dy: T, g: FilterGradGeometry): T {
  const [kh, kw, , co] = g.filterShape;
  const [sh, sw] = g.strides;
  const [dh, dw] = g.dilations;
  const nchw = g.dataFormat === 'NCHW';
  const xs = ops.shape(x);
  const dys = ops.shape(dy);
  const [h, w] = nchw ? [xs[2], xs[3]] : [xs[1], xs[2]];
  const [ho, wo] = nchw ? [dys[2], dys[3]] : [dys[1], dys[2]];

  // Only the rows/columns the forward pass read are needed: trimming the far padding keeps the
  // rewritten conv's output at exactly kh x kw whenever the input itself is not over-long.
  const needH = (ho - 1) * sh + (kh - 1) * dh + 1;
  const needW = (wo - 1) * sw + (kw - 1) * dw + 1;
  const bottom = Math.max(0, needH - h - g.pad.top);
  const right = Math.max(0, needW - w - g.pad.left);

  const xT = ops.transpose(x, nchw ? [1, 2, 3, 0] : [3, 1, 2, 0]);
  const dyT = ops.transpose(dy, nchw ? [2, 3, 0, 1] : [1, 2, 0, 3]);
  const conv = ops.conv2d(
    xT,
    dyT,
    [dh, dw],
    [sh, sw],
    [
      [0, 0],
      [g.pad.top, bottom],
      [g.pad.left, right],
      [0, 0],
    ],
  );
  ops.dispose(xT);
  ops.dispose(dyT);

  let cropped = conv;
  const cs = ops.shape(conv);
  if (cs[1] !== kh || cs[2] !== kw) {
    cropped = ops.slice(conv, [0, 0, 0, 0], [cs[0], kh, kw, co]);
    ops.dispose(conv);
  }
  const out = ops.transpose(cropped, [1, 2, 0, 3]);
  ops.dispose(cropped);
  return out;
}

/** The same rewrite as tf ops (differentiable, any backend); used for dilated convolutions. */
export const tensorFilterGradOps: FilterGradOps<tf.Tensor4D> = {
  shape: (x) => x.shape,
  transpose: (x, perm) => tf.transpose(x, perm),
  conv2d: (x, f, strides, dilations, pad) =>
    tf.conv2d(x, f, strides, pad as tf.backend_util.ExplicitPadding, 'NHWC', dilations),
  slice: (x, begin, size) => tf.slice(x, begin, size),
  dispose: (x) => x.dispose(),
};
