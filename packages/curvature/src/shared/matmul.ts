/**
 * Matrix products with a transposed operand, the shape of every second moment, per-example
 * gradient and eigenbasis rotation here. The wasm backend's MatMul with transposeA/transposeB runs
 * a strided inner loop: measured 27x (transposeA) and 8x (transposeB) slower than an explicit
 * tf.transpose followed by a plain MatMul at 785 x 785 x 512 (docs/benchmarks.md). The cpu and
 * webgl backends handle the flags natively, so they keep them and skip the extra copy.
 */
import * as tf from '@tensorflow/tfjs-core';

function swapLast(t: tf.Tensor): tf.Tensor {
  return tf.transpose(t, t.rank === 2 ? [1, 0] : [0, 2, 1]);
}

/** op(a) op(b) with op = transpose where requested (call inside tidy or dispose the result). */
export function matMulT<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T, transposeA: boolean, transposeB: boolean): T {
  if (tf.getBackend() !== 'wasm' || (!transposeA && !transposeB)) return tf.matMul(a, b, transposeA, transposeB) as T;
  return tf.tidy(() => tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b) as T);
}

/** a^T b. */
export function matMulTransposeA<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T): T {
  return matMulT(a, b, true, false);
}
