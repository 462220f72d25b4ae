/**
 * A BatchMatMul gradient that transposes explicitly. For C = op(A) op(B) the gradients are the
 * textbook ones (e.g. Giles, "An extended collection of matrix derivative results", 2008, sec. 2.2.2:
 * dA = dC B^T, dB = A^T dC, with the transposes moved for the flagged cases), the same products as
 * tfjs-core's stock gradient; only the way the transposes are done differs. The wasm backend's
 * matMul with transposeA/transposeB flags runs ~10-20x slower than tf.transpose followed by a plain
 * matMul, so on the JS/wasm backends the transposes are materialised; on the others (webgl, webgpu,
 * tensorflow) the flags are free inside the kernel and the stock formulation is kept. Unlike the
 * stock gradient it also sums over broadcast batch dimensions, so [m,k] x [b,k,n] is differentiable.
 */
import * as tf from '@tensorflow/tfjs-core';

/** How the transposed operands of the gradient products are formed. */
export type TransposeStrategy = 'explicit' | 'flags';

/** Backends whose matMul is fastest without transpose flags (measured, see docs/benchmarks.md). */
const EXPLICIT_TRANSPOSE_BACKENDS = new Set(['wasm', 'cpu']);

export function transposeStrategyFor(backendName: string): TransposeStrategy {
  return EXPLICIT_TRANSPOSE_BACKENDS.has(backendName) ? 'explicit' : 'flags';
}

/** Swaps the two innermost axes. */
function swapInner(x: tf.Tensor): tf.Tensor {
  const perm = x.shape.map((_, i) => i);
  const r = perm.length;
  [perm[r - 2], perm[r - 1]] = [perm[r - 1], perm[r - 2]];
  return tf.transpose(x, perm);
}

/** op(x) @ op(y), with op = transpose when the flag is set, formed per the strategy. */
function product(x: tf.Tensor, tx: boolean, y: tf.Tensor, ty: boolean, strategy: TransposeStrategy): tf.Tensor {
  if (strategy === 'flags') return tf.matMul(x, y, tx, ty);
  if (tx && ty) {
    // x^T y^T = (y x)^T: one transpose of the result instead of two of the operands.
    return swapInner(tf.matMul(y, x));
  }
  return tf.matMul(tx ? swapInner(x) : x, ty ? swapInner(y) : y);
}

/** Sums a gradient over the batch axes its input was broadcast along, back to `shape`. */
function unbroadcast(grad: tf.Tensor, shape: number[]): tf.Tensor {
  if (tf.util.arraysEqual(grad.shape, shape)) return grad;
  const gradBatch = grad.shape.slice(0, -2);
  const inBatch = shape.slice(0, -2);
  const axes = tf.backend_util.getReductionAxes(inBatch, gradBatch);
  const summed = axes.length > 0 ? tf.sum(grad, axes, true) : grad;
  return tf.reshape(summed, shape);
}

/** dA of C = op(A) op(B) given dC = dy; any backend. */
export function batchMatMulGradA(
  dy: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
  strategy: TransposeStrategy,
): tf.Tensor {
  const da = transposeA
    ? product(b, transposeB, dy, true, strategy) // A^T = op(B) dC^T
    : product(dy, false, b, !transposeB, strategy); // dA = dC op(B)^T
  return unbroadcast(da, a.shape);
}

/** dB of C = op(A) op(B) given dC = dy; any backend. */
export function batchMatMulGradB(
  dy: tf.Tensor,
  a: tf.Tensor,
  b: tf.Tensor,
  transposeA: boolean,
  transposeB: boolean,
  strategy: TransposeStrategy,
): tf.Tensor {
  const db = transposeB
    ? product(dy, true, a, transposeA, strategy) // B^T = dC^T op(A)
    : product(a, !transposeA, dy, false, strategy); // dB = op(A)^T dC
  return unbroadcast(db, b.shape);
}

/** The gradient config installWasmTrainingKernels registers for BatchMatMul (global). */
export const batchMatMulGradConfig: tf.GradConfig = {
  kernelName: 'BatchMatMul',
  inputsToSave: ['a', 'b'],
  gradFunc: (dy, saved, attrs) => {
    const [a, b] = saved;
    const { transposeA, transposeB } = attrs as unknown as { transposeA: boolean; transposeB: boolean };
    const strategy = transposeStrategyFor(tf.getBackend());
    return {
      a: () => batchMatMulGradA(dy as tf.Tensor, a, b, transposeA, transposeB, strategy),
      b: () => batchMatMulGradB(dy as tf.Tensor, a, b, transposeA, transposeB, strategy),
    };
  },
};
