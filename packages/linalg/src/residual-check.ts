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
 *   X ≈ M⁻¹; a poor X only makes the bound tighter).
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

/** Gaussian probes for the residual estimate (8 probes: P(estimate < r/2) ≤ P(χ²₈ < 2) ≈ 2% even for a rank-one R). */
export const RESIDUAL_PROBES = 8;
/** Power steps per norm bound: lower bounds only, so few steps make the check stricter, never looser. */
const POWER_STEPS = 6;

export interface ResidualCheck {
  /** Estimated ‖MX − I‖_F/√n (float64, RESIDUAL_PROBES Gaussian probes). */
  residualEstimate: number;
  /** A lower bound on κ₂(M) = ‖M‖₂‖M⁻¹‖₂. */
  conditionLowerBound: number;
}

/** y = A x for row-major n×n A. */
function matVec(a: Float64Array | Float32Array, n: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < n; i++) {
    let s = 0;
    const ri = i * n;
    for (let k = 0; k < n; k++) s += a[ri + k] * x[k];
    y[i] = s;
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
 * computed inverse X, in O(n²) float64 work (~(2·RESIDUAL_PROBES + 4·POWER_STEPS) matrix-vector products).
 */
export function checkInverse(m: Float64Array, x: Float64Array | Float32Array, n: number, seed = 0x5eed): ResidualCheck {
  const rand = seededRandom(seed + n);
  const xv = new Float64Array(n);
  const mxv = new Float64Array(n);
  let sum = 0;
  for (let p = 0; p < RESIDUAL_PROBES; p++) {
    const v = gaussianVector(n, rand);
    matVec(x, n, v, xv);
    matVec(m, n, xv, mxv);
    for (let i = 0; i < n; i++) {
      const d = mxv[i] - v[i];
      sum += d * d;
    }
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
