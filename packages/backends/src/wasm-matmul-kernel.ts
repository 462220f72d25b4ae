/**
 * A wrapper around a backend's BatchMatMul kernel that materialises transposes instead of passing
 * transposeA/transposeB flags. The wasm backend's flagged matMul takes a slow path (measured ~8-20x
 * slower than tf.transpose + plain matMul, docs/benchmarks.md), and the flags are used by every
 * matMul gradient, including the one tfjs-core hard-codes inside fused.matMul, which tf.layers
 * Dense layers use. Replacing the gradient alone cannot reach that one; wrapping the kernel does.
 */
import type * as tf from '@tensorflow/tfjs-core';

interface DisposingBackend {
  disposeData(dataId: object): boolean;
}

/** Wraps `inner` (a BatchMatMul kernel) so that it is only ever called with both flags false. */
export function explicitTransposeMatMul(inner: tf.KernelFunc, transpose: tf.KernelFunc): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { transposeA, transposeB } = (attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    if (!transposeA && !transposeB) return inner({ inputs, backend, attrs });
    const { a, b } = inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const swap = (x: tf.TensorInfo): tf.TensorInfo => {
      const perm = x.shape.map((_, i) => i);
      const r = perm.length;
      [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
      return transpose({ inputs: { x }, backend, attrs: { perm } }) as tf.TensorInfo;
    };
    const a2 = transposeA ? swap(a) : a;
    const b2 = transposeB ? swap(b) : b;
    try {
      return inner({ inputs: { a: a2, b: b2 }, backend, attrs: { ...attrs, transposeA: false, transposeB: false } });
    } finally {
      if (a2 !== a) (backend as DisposingBackend).disposeData(a2.dataId);
      if (b2 !== b) (backend as DisposingBackend).disposeData(b2.dataId);
    }
  };
}
