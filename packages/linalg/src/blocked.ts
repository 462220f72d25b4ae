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
 * Transposes are explicit: matMul with transpose flags is ~15x slower on wasm. The recursion has no
 * error test of its own; inverse.ts checks each result (residual-check.ts) and falls back to the host.
 */
import * as tf from '@tensorflow/tfjs-core';
import { hostCholesky, hostInverseFromCholesky, hostLowerInverseTransposed } from './host';
import { BLOCKED_LEAF_N } from './policy';
import { fromHost, readHost } from './validate';

/** Rows r0… and columns c0… of the row-major n-column matrix `src` as a new rows×cols array (row copies only). */
function block(src: Float32Array, n: number, r0: number, c0: number, rows: number, cols: number): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    const from = (r0 + i) * n + c0;
    out.set(src.subarray(from, from + cols), i * cols);
  }
  return out;
}

/** Leaf: float64 Cholesky inverse of the lower triangle of a k×k block (throws NOT_POSITIVE_DEFINITE). */
function leafInverse(m: Float32Array, k: number): Float32Array {
  return Float32Array.from(hostInverseFromCholesky(hostCholesky(Float64Array.from(m), k), k));
}

/** Split point: a multiple of the leaf size near n/2, so leaves stay full-size. */
function splitPoint(n: number, leaf: number): number {
  const half = Math.ceil(n / 2 / leaf) * leaf;
  return half < n ? half : Math.ceil(n / 2);
}

/** Reads a device matrix (awaited, outside any tidy) and disposes it. */
async function take(t: tf.Tensor): Promise<Float32Array> {
  try {
    return (await t.data()) as Float32Array;
  } finally {
    t.dispose();
  }
}

/**
 * M⁻¹ for SPD M given on the host (float32, row-major n×n; only its lower triangle and diagonal
 * blocks' lower triangles decide the SPD test). Returns a new, exactly symmetric host array.
 *
 * The recursion keeps every block on the host and sends only matMul operands to the backend: on wasm
 * a strided tf.slice / axis-1 tf.concat runs as a JS index loop (~13 ms per 512² block, measured),
 * whereas a row-copy on the host and an upload / read cost well under 1 ms. Per level the device
 * does W = M21 M11⁻¹, Wᵀ (one explicit transpose), S = M22 − M21 Wᵀ, X21 = −S⁻¹ W, X11 = M11⁻¹ − Wᵀ X21,
 * and only S and [X11; X21] come back (two reads per level: S⁻¹ is needed before X21 exists); the upper
 * block X12 = X21ᵀ is written by the host assembly.
 */
export async function blockedSpdInverseHost(m: Float32Array, n: number, leaf = BLOCKED_LEAF_N): Promise<Float32Array> {
  if (n <= leaf) return leafInverse(m, n);
  const k = splitPoint(n, leaf);
  const p = n - k;
  const b11 = await blockedSpdInverseHost(block(m, n, 0, 0, k, k), k, leaf);
  const live: tf.Tensor[] = [];
  const keep = <T extends tf.Tensor>(t: T): T => {
    live.push(t);
    return t;
  };
  try {
    const b11T = keep(tf.tensor2d(b11, [k, k]));
    const m21 = keep(tf.tensor2d(block(m, n, k, 0, p, k), [p, k]));
    const m22 = keep(tf.tensor2d(block(m, n, k, k, p, p), [p, p]));
    const w = keep(tf.matMul(m21, b11T));
    const wt = keep(tf.transpose(w));
    const s = await take(tf.tidy(() => tf.sub(m22, tf.matMul(m21, wt))));
    symmetrizeInPlace(s, p);
    const b22 = await blockedSpdInverseHost(s, p, leaf);
    const b22T = keep(tf.tensor2d(b22, [p, p]));
    // X11 (k×k) above X21 (p×k): one read; an axis-0 concat is a plain copy on every backend.
    const x = await take(
      tf.tidy(() => {
        const x21 = tf.neg(tf.matMul(b22T, w));
        return tf.concat([tf.sub(b11T, tf.matMul(wt, x21)), x21], 0);
      }),
    );
    return assemble(x.subarray(0, k * k), x.subarray(k * k), b22, k, p);
  } finally {
    for (const t of live) t.dispose();
  }
}

/** (S + Sᵀ)/2 in place: S feeds a Cholesky that only reads one triangle. */
function symmetrizeInPlace(s: Float32Array, n: number): void {
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (s[i * n + j] + s[j * n + i]);
      s[i * n + j] = v;
      s[j * n + i] = v;
    }
  }
}

/** [sym(X11), X21ᵀ; X21, B22] as one row-major array. */
function assemble(x11: Float32Array, x21: Float32Array, b22: Float32Array, k: number, p: number): Float32Array {
  const n = k + p;
  const out = new Float32Array(n * n);
  for (let i = 0; i < k; i++) {
    const ri = i * n;
    out[ri + i] = x11[i * k + i];
    for (let j = 0; j < i; j++) {
      const v = 0.5 * (x11[i * k + j] + x11[j * k + i]);
      out[ri + j] = v;
      out[j * n + i] = v;
    }
  }
  for (let i = 0; i < p; i++) {
    const ri = (k + i) * n;
    out.set(x21.subarray(i * k, (i + 1) * k), ri);
    out.set(b22.subarray(i * p, (i + 1) * p), ri + k);
    for (let j = 0; j < k; j++) out[j * n + k + i] = x21[i * k + j];
  }
  return out;
}

/** Lower L with L Lᵀ = M for SPD M (symmetric, damped; caller keeps M). Returns a new tensor. */
export async function blockedCholesky(m: tf.Tensor2D, leaf = BLOCKED_LEAF_N): Promise<tf.Tensor2D> {
  const n = m.shape[0];
  const columns: tf.Tensor2D[] = [];
  let trailing = tf.clone(m);
  let done = false;
  try {
    for (let start = 0; start < n; start += leaf) {
      const b = Math.min(leaf, n - start);
      const rest = n - start - b;
      const a11 = tf.slice(trailing, [0, 0], [b, b]);
      let host11: Float64Array;
      try {
        host11 = await readHost(a11);
      } finally {
        a11.dispose();
      }
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

