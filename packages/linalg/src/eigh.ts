/**
 * Symmetric eigendecomposition for PSD matrices: ascending eigenvalues, negatives (rounding noise of a
 * PSD input) clipped to 0, orthonormal eigenvectors as columns. Host float64 (Jacobi / Householder +
 * implicit QL, see host.ts) or TensorFlow's SelfAdjointEigV2 when native ops are present.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hostEigh } from './host';
import { resolveMethod } from './inverse';
import { nativeEigh, requireNativeBackend } from './native';
import type { MethodOptions } from './cholesky';
import { assertFiniteDevice, readHost, squareSize } from './validate';

export interface EighResult {
  values: tf.Tensor1D;
  vectors: tf.Tensor2D;
}

/** Ascending eigenvalues (negatives clipped to 0) and orthonormal eigenvectors as columns. Caller owns both. */
export async function eigh(a: tf.Tensor2D, options: MethodOptions = {}): Promise<EighResult> {
  const what = 'eigh';
  const n = squareSize(a, what);
  const { method } = resolveMethod(options?.method, n, 'eigh', what);
  if (method === 'native') {
    const native = requireNativeBackend(what);
    const m = tf.tidy(() => tf.mul(tf.add(a, tf.transpose(a)), 0.5) as tf.Tensor2D);
    try {
      await assertFiniteDevice(m, what);
      const raw = nativeEigh(native, m);
      const values = tf.tidy(() => tf.relu(raw.values) as tf.Tensor1D);
      raw.values.dispose();
      return { values, vectors: raw.vectors };
    } finally {
      m.dispose();
    }
  }
  const r = hostEigh(await readHost(a), n);
  const clipped = Float32Array.from(r.values, (v) => Math.max(v, 0));
  return { values: tf.tensor1d(clipped, 'float32'), vectors: tf.tensor2d(Float32Array.from(r.vectors), [n, n], 'float32') };
}
