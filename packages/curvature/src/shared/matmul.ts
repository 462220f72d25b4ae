/**
 * a^T b, the product every second moment and per-example gradient here is made of. The wasm
 * backend's MatMul with transposeA runs a strided inner loop that measured 5-8x slower than an
 * explicit transpose followed by a plain MatMul (bench/curvature.bench.ts, docs/benchmarks.md); the
 * cpu and webgl backends handle the flag natively, so they keep it and skip the extra copy.
 */
import * as tf from '@tensorflow/tfjs';

export function matMulTransposeA<T extends tf.Tensor2D | tf.Tensor3D>(a: T, b: T): T {
  if (tf.getBackend() !== 'wasm') return tf.matMul(a, b, true, false) as T;
  return tf.tidy(() => tf.matMul(tf.transpose(a, a.rank === 2 ? [1, 0] : [0, 2, 1]), b) as T);
}
