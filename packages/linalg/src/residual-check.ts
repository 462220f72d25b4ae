/**
 * A cheap a-posteriori accuracy check for an inverse computed in float32 (the blocked method): the
 * blocked recursion has no error test of its own (its leaf Cholesky only tests definiteness), and
 * its error grows with the recursion depth and κ, so at κ ≈ 1e5 with small blocks it measured
 * r = 2.0 on wasm, where the documented bound is about 1 and X = 0 would have r = 1. Forming the
 * whole residual costs 2n³ float64 flops (more than the host inverse), so instead:
 *
 * - r² = ‖R‖_F²/n is estimated as the mean of ‖R v‖²/n over Gaussian probes v (E‖Rv‖² = ‖R‖_F²,
 *   Hutchinson 1990; Avron & Toledo, J. ACM 2011), R = MX − I formed as M(Xv) − v in float64: O(n²)
 *   per probe;
 * - κ₂(M) is bounded from below, never above, so the bound it feeds is never looser than the true
 *   one: ‖M‖₂ ≥ ‖Mz‖/‖z‖ and ‖M⁻¹‖₂ ≥ ‖y‖/‖My‖ for any z, y (z, y from a few power steps on M and on
 *   X ≈ M⁻¹; a poor X, or few steps, only make the bound tighter).
 *
 * The probes are seeded, so a result is reproducible.
 */

/** mulberry32 (the same generator as the test matrices): small, seedable, reproducible probes. */
function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Gaussian probes for the residual estimate (matBlock is written for exactly 8; 8 probes: P(estimate < r/2) ≤ P(χ²₈ < 2) ≈ 2% even for a rank-one R). */
export const RESIDUAL_PROBES = 8;
/** Power steps per norm bound: lower bounds only, so few steps make the check stricter, never looser. */
const POWER_STEPS = 4;

/** checkInverse's result: a residual estimate of an approximate inverse and a lower bound on the condition number. */
export interface ResidualCheck {
  /** Estimated ‖MX − I‖_F/√n (float64, RESIDUAL_PROBES Gaussian probes). */
  residualEstimate: number;
  /** A lower bound on κ₂(M) = ‖M‖₂‖M⁻¹‖₂. */
  conditionLowerBound: number;
}

/** y = A x for row-major n×n A. */
function matVec(a: Float64Array | Float32Array, n: number, x: Float64Array, y: Float64Array): void {
  const n4 = n - (n % 4);
  for (let i = 0; i < n; i++) {
    // Four accumulators: independent adds, so the loop is not latency-bound on one sum.
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    const ri = i * n;
    let k = 0;
    for (; k < n4; k += 4) {
      s0 += a[ri + k] * x[k];
      s1 += a[ri + k + 1] * x[k + 1];
      s2 += a[ri + k + 2] * x[k + 2];
      s3 += a[ri + k + 3] * x[k + 3];
    }
    for (; k < n; k++) s0 += a[ri + k] * x[k];
    y[i] = s0 + s1 + s2 + s3;
  }
}

/**
 * Y = A V for row-major n×n A and n×8 V (row-major: the 8 probes of a row adjacent). Unrolled into 8
 * scalar accumulators: one pass over A for all probes (the pass is memory-bound).
 */
function matBlock(a: Float64Array | Float32Array, n: number, v: Float64Array, y: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s0 = 0;
    let s1 = 0;
    let s2 = 0;
    let s3 = 0;
    let s4 = 0;
    let s5 = 0;
    let s6 = 0;
    let s7 = 0;
    const ri = i * n;
    for (let k = 0; k < n; k++) {
      const aik = a[ri + k];
      const vk = k * 8;
      s0 += aik * v[vk];
      s1 += aik * v[vk + 1];
      s2 += aik * v[vk + 2];
      s3 += aik * v[vk + 3];
      s4 += aik * v[vk + 4];
      s5 += aik * v[vk + 5];
      s6 += aik * v[vk + 6];
      s7 += aik * v[vk + 7];
    }
    const o = i * 8;
    y[o] = s0;
    y[o + 1] = s1;
    y[o + 2] = s2;
    y[o + 3] = s3;
    y[o + 4] = s4;
    y[o + 5] = s5;
    y[o + 6] = s6;
    y[o + 7] = s7;
  }
}

function norm(v: Float64Array): number {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i] * v[i];
  return Math.sqrt(s);
}

function gaussianVector(n: number, rand: () => number): Float64Array {
  const v = new Float64Array(n);
  for (let i = 0; i < n; i++) v[i] = Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  return v;
}

/** A unit vector after POWER_STEPS power steps on A, started from v (overwritten). */
function powerVector(a: Float64Array | Float32Array, n: number, v: Float64Array): Float64Array {
  let x: Float64Array = v;
  let y: Float64Array = new Float64Array(n);
  for (let step = 0; step < POWER_STEPS; step++) {
    const s = norm(x);
    if (!(s > 0)) break;
    for (let i = 0; i < n; i++) x[i] /= s;
    matVec(a, n, x, y);
    [x, y] = [y, x];
  }
  const s = norm(x);
  if (s > 0) for (let i = 0; i < n; i++) x[i] /= s;
  return x;
}

/**
 * Estimates r(X) = ‖MX − I‖_F/√n and a lower bound on κ₂(M) for SPD M (float64, row-major n×n) and a
 * computed inverse X, in O(n²) float64 work: two passes over 8 probes (matBlock) and 2·POWER_STEPS + 3
 * matrix–vector products, ≈ (32 + 4·POWER_STEPS + 6)·n² = 54·n² flops.
 */
export function checkInverse(m: Float64Array, x: Float64Array | Float32Array, n: number, seed = 0x5eed): ResidualCheck {
  const rand = seededRandom(seed + n);
  // All probes at once (matBlock): one pass over each matrix instead of one per probe.
  const P = RESIDUAL_PROBES;
  const v = gaussianVector(n * P, rand);
  const xv = new Float64Array(n * P);
  const mxv = new Float64Array(n * P);
  matBlock(x, n, v, xv);
  matBlock(m, n, xv, mxv);
  let sum = 0;
  for (let i = 0; i < n * P; i++) {
    const d = mxv[i] - v[i];
    sum += d * d;
  }
  const residualEstimate = Math.sqrt(sum / (RESIDUAL_PROBES * n));
  // ‖M‖₂ ≥ ‖Mz‖ for unit z.
  const z = powerVector(m, n, gaussianVector(n, rand));
  const mz = new Float64Array(n);
  matVec(m, n, z, mz);
  const normM = norm(mz);
  // ‖M⁻¹‖₂ ≥ ‖y‖/‖My‖ for any y ≠ 0; y = X w with w a dominant direction of X, so y ≈ the dominant eigenvector of M⁻¹.
  const w = powerVector(x, n, gaussianVector(n, rand));
  const y = new Float64Array(n);
  matVec(x, n, w, y);
  const my = new Float64Array(n);
  matVec(m, n, y, my);
  const normMy = norm(my);
  const normInv = normMy > 0 ? norm(y) / normMy : 0;
  const conditionLowerBound = Math.max(1, normM * normInv);
  return { residualEstimate, conditionLowerBound: Number.isFinite(conditionLowerBound) ? conditionLowerBound : 1 };
}
