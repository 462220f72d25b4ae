/**
 * Blocked SPD inverse and Cholesky: the O(n³) work as backend matMuls (float32), only small diagonal
 * blocks on the host in float64. This is what makes n ≈ 1000 fast on cpu/wasm, where a scalar JS
 * loop runs at well under 1 GFLOP/s but wasm matMul at ~10.
 *
 * Inverse: recursive 2×2 block inversion through the Schur complement (Golub & Van Loan, "Matrix
 * Computations" 4th ed., §3.2.10 / block LDLᵀ without pivoting, stable for SPD):
 *   M = [M11 M12; M21 M22],  W = M21 M11⁻¹,  S = M22 − W M12,
 *   M⁻¹ = [M11⁻¹ + Wᵀ S⁻¹ W,  −Wᵀ S⁻¹;  −S⁻¹ W,  S⁻¹].
 * M SPD ⇔ M11 and S SPD, so the host Cholesky of every leaf is also the exact SPD test. Cost ≈ (4/3) n³
 * flops of matMul. Cholesky: right-looking blocked (G&VL Alg. 4.2.3) with host panels.
 * Transposes are explicit: matMul with transpose flags is ~15x slower on wasm.
 */
import * as tf from '@tensorflow/tfjs';
import { hostCholesky, hostInverseFromCholesky, hostLowerInverseTransposed } from './host';
import { BLOCKED_LEAF_N } from './policy';
import { fromHost, readHost } from './validate';

function leafInverse(m: tf.Tensor2D): tf.Tensor2D {
  const k = m.shape[0];
  const l = hostCholesky(readHost(m), k);
  return fromHost(hostInverseFromCholesky(l, k), [k, k]);
}

/** Split point: a multiple of the leaf size near n/2, so leaves stay full-size. */
function splitPoint(n: number, leaf: number): number {
  const half = Math.ceil(n / 2 / leaf) * leaf;
  return half < n ? half : Math.ceil(n / 2);
}

/** M⁻¹ for SPD M (symmetric, damping already added; caller keeps M). Returns a new tensor. */
export function blockedSpdInverse(m: tf.Tensor2D, leaf = BLOCKED_LEAF_N): tf.Tensor2D {
  const n = m.shape[0];
  if (n <= leaf) return leafInverse(m);
  const k = splitPoint(n, leaf);
  const p = n - k;
  const m11 = tf.slice(m, [0, 0], [k, k]);
  let b11: tf.Tensor2D | null = null;
  let s: tf.Tensor2D | null = null;
  let w: tf.Tensor2D | null = null;
  let b22: tf.Tensor2D | null = null;
  try {
    b11 = blockedSpdInverse(m11, leaf);
    m11.dispose();
    const b11v = b11;
    [w, s] = tf.tidy(() => {
      const m21 = tf.slice(m, [k, 0], [p, k]);
      const m12 = tf.slice(m, [0, k], [k, p]);
      const wt = tf.matMul(m21, b11v);
      const schur = tf.sub(tf.slice(m, [k, k], [p, p]), tf.matMul(wt, m12));
      // Symmetrise: S feeds a Cholesky that only reads one triangle.
      return [wt, tf.mul(tf.add(schur, tf.transpose(schur)), 0.5)] as [tf.Tensor2D, tf.Tensor2D];
    });
    b22 = blockedSpdInverse(s, leaf);
    const wv = w;
    const b22v = b22;
    return tf.tidy(() => {
      const x21 = tf.neg(tf.matMul(b22v, wv));
      const x12 = tf.transpose(x21);
      const x11 = tf.sub(b11v, tf.matMul(tf.transpose(wv), x21));
      const x11s = tf.mul(tf.add(x11, tf.transpose(x11)), 0.5);
      return tf.concat([tf.concat([x11s, x12], 1), tf.concat([x21, b22v], 1)], 0) as tf.Tensor2D;
    });
  } finally {
    m11.dispose();
    b11?.dispose();
    s?.dispose();
    w?.dispose();
    b22?.dispose();
  }
}

/** Lower L with L Lᵀ = M for SPD M (symmetric, damped; caller keeps M). Returns a new tensor. */
export function blockedCholesky(m: tf.Tensor2D, leaf = BLOCKED_LEAF_N): tf.Tensor2D {
  const n = m.shape[0];
  const columns: tf.Tensor2D[] = [];
  let trailing = tf.clone(m);
  let done = false;
  try {
    for (let start = 0; start < n; start += leaf) {
      const b = Math.min(leaf, n - start);
      const rest = n - start - b;
      const a11 = tf.slice(trailing, [0, 0], [b, b]);
      const host11 = readHost(a11);
      a11.dispose();
      const l11 = hostCholesky(host11, b);
      const u = rest === 0 ? null : fromHost(hostLowerInverseTransposed(l11, b), [b, b]);
      const l11T = fromHost(l11, [b, b]);
      const uv = u;
      const [column, nextTrailing] = tf.tidy((): tf.Tensor2D[] => {
        if (uv === null) return [(start === 0 ? tf.clone(l11T) : tf.concat([tf.zeros([start, b]), l11T], 0)) as tf.Tensor2D];
        // L21 = A21 L11⁻ᵀ, then the trailing update A22 − L21 L21ᵀ (the O(n³) part).
        const panel = tf.matMul(tf.slice(trailing, [b, 0], [rest, b]), uv);
        const update = tf.sub(tf.slice(trailing, [b, b], [rest, rest]), tf.matMul(panel, tf.transpose(panel)));
        const parts = start === 0 ? [l11T, panel] : [tf.zeros([start, b]), l11T, panel];
        return [tf.concat(parts, 0) as tf.Tensor2D, update as tf.Tensor2D];
      }) as [tf.Tensor2D, tf.Tensor2D | undefined];
      u?.dispose();
      l11T.dispose();
      columns.push(column);
      trailing.dispose();
      if (nextTrailing === undefined) break;
      trailing = nextTrailing;
    }
    const result = columns.length === 1 ? columns[0] : (tf.concat(columns, 1) as tf.Tensor2D);
    done = true;
    return result;
  } finally {
    trailing.dispose();
    if (!done || columns.length > 1) for (const c of columns) c.dispose();
  }
}

