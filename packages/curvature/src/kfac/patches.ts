/**
 * Patch extraction (im2col) for Conv2D layers, KFC (Grosse & Martens 2016, "A Kronecker-factored
 * approximate Fisher matrix for convolution layers", sec. 3): every output location t of example n
 * sees the patch a_{n,t} = the kh x kw x cin input values under the kernel, and the layer is the
 * Dense map a_{n,t} -> a_{n,t} W with W the kernel flattened to [kh*kw*cin, cout].
 *
 * The patches stay on the device: the input is zero-padded once (TF 'same' convention: the extra
 * pixel of an odd total padding goes after), then each of the kh*kw kernel taps is ONE strided slice
 * of the padded input and the taps are concatenated on the channel axis. That is kh*kw device ops
 * and pure data movement (N*L*P floats), against the N*L*P^2 multiply-adds of a convolution with a
 * one-hot gathering kernel. Tap (i, j) and channel c land in column (i*kw + j)*cin + c, the
 * row-major order of the kernel's [kh, kw, cin, cout] -> [kh*kw*cin, cout] reshape (tested against
 * tf.conv2d's own kernel gradient).
 */
import * as tf from '@tensorflow/tfjs';
import type { Conv2DLayerInfo } from '@natgrad/core';

export interface ConvGeometry {
  outHeight: number;
  outWidth: number;
  /** Zero rows/columns added before and after the input: [top, bottom, left, right]. */
  pads: [number, number, number, number];
}

function axisGeometry(size: number, kernel: number, stride: number, dilation: number, padding: 'same' | 'valid') {
  const effective = (kernel - 1) * dilation + 1;
  if (padding === 'valid') {
    return { out: Math.max(0, Math.ceil((size - effective + 1) / stride)), before: 0, after: 0 };
  }
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + effective - size, 0);
  const before = Math.floor(total / 2);
  return { out, before, after: total - before };
}

/** Output size and padding of a Conv2D layer, following TensorFlow's 'same' / 'valid' rules. */
export function convGeometry(layer: Conv2DLayerInfo): ConvGeometry {
  const h = axisGeometry(layer.inputSize[0], layer.kernelSize[0], layer.strides[0], layer.dilation[0], layer.padding);
  const w = axisGeometry(layer.inputSize[1], layer.kernelSize[1], layer.strides[1], layer.dilation[1], layer.padding);
  return { outHeight: h.out, outWidth: w.out, pads: [h.before, h.after, w.before, w.after] };
}

/**
 * Patches of `input` [N, H, W, cin] as a [N * outH * outW, kh*kw*cin] matrix, rows ordered
 * (n, y, x). The caller owns the result.
 */
export function extractPatches(input: tf.Tensor4D, layer: Conv2DLayerInfo): tf.Tensor2D {
  const { outHeight, outWidth, pads } = convGeometry(layer);
  const [kh, kw] = layer.kernelSize;
  const [sh, sw] = layer.strides;
  const [dh, dw] = layer.dilation;
  const n = input.shape[0];
  const c = input.shape[3];
  return tf.tidy(() => {
    const padded =
      pads.some((p) => p > 0)
        ? tf.pad(input, [
            [0, 0],
            [pads[0], pads[1]],
            [pads[2], pads[3]],
            [0, 0],
          ])
        : input;
    if (kh === 1 && kw === 1 && sh === 1 && sw === 1) return tf.reshape(padded, [-1, c]);
    const taps: tf.Tensor4D[] = [];
    for (let i = 0; i < kh; i++) {
      for (let j = 0; j < kw; j++) {
        const top = i * dh;
        const left = j * dw;
        taps.push(
          tf.stridedSlice(
            padded,
            [0, top, left, 0],
            [n, top + (outHeight - 1) * sh + 1, left + (outWidth - 1) * sw + 1, c],
            [1, sh, sw, 1],
          ) as tf.Tensor4D,
        );
      }
    }
    const stacked = taps.length === 1 ? taps[0] : tf.concat(taps, 3);
    return tf.reshape(stacked, [n * outHeight * outWidth, kh * kw * c]);
  });
}
