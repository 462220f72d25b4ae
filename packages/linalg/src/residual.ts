/**
 * The accuracy measure every guarantee in this package is stated in: the relative residual
 * ‖(A + λI)X − I‖_F / ‖I‖_F = ‖(A + λI)X − I‖_F / √n, evaluated in float64 on the host so that it
 * measures X and not the float32 arithmetic of the check itself.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { hostSymmetrize } from './host';
import { checkDamping, readHostMany, squareSize } from './validate';

/** ‖(sym(A) + λI)X − I‖_F / √n in float64; A and X row-major n×n. */
export function hostInverseResidual(a: Float64Array | Float32Array, n: number, damping: number, x: Float64Array | Float32Array): number {
  const m = hostSymmetrize(a, n, damping);
  let sum = 0;
  const row = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let k = 0; k < n; k++) {
      const mik = m[i * n + k];
      if (mik === 0) continue;
      const xk = k * n;
      for (let j = 0; j < n; j++) row[j] += mik * x[xk + j];
    }
    row[i] -= 1;
    for (let j = 0; j < n; j++) sum += row[j] * row[j];
  }
  return Math.sqrt(sum / n);
}

/** The same for tensors (reads both in one transfer; O(n³) on the host, so meant for tests and diagnostics). */
export async function inverseResidual(a: tf.Tensor2D, damping: number, x: tf.Tensor2D): Promise<number> {
  const n = squareSize(a, 'inverseResidual');
  squareSize(x, 'inverseResidual');
  checkDamping(damping, 'inverseResidual');
  const [aData, xData] = await readHostMany([a, x]);
  return hostInverseResidual(aData, n, damping, xData);
}
