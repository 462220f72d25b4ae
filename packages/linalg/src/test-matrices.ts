/**
 * Deterministic test matrices with a known condition number (used by tests and the benchmark, not
 * exported): dense SPD matrices Q diag(μ) Qᵀ with Q a product of Householder reflections (exact
 * spectrum, O(n²) to build), and KFAC-like rank-deficient covariances Xᵀ X / m whose damping is
 * chosen so that κ(A + λI) = (λ_max + λ)/λ hits a target.
 */
import { hostEigh } from './host';

/** mulberry32: tiny, seedable, good enough for test data. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Dense SPD n×n with eigenvalues log-spaced from 1/κ to 1 (so κ(A) = κ exactly, up to rounding). */
export function randomSpd(n: number, kappa: number, seed = 1): Float64Array {
  const rand = seededRandom(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) a[i * n + i] = n === 1 ? 1 : kappa ** (i / (n - 1) - 1);
  const v = new Float64Array(n);
  const w = new Float64Array(n);
  for (let r = 0; r < Math.min(4, n); r++) {
    let norm = 0;
    for (let i = 0; i < n; i++) {
      v[i] = gaussian(rand);
      norm += v[i] * v[i];
    }
    const scale = Math.sqrt(2 / norm);
    for (let i = 0; i < n; i++) v[i] *= scale;
    // A ← H A H with H = I − v vᵀ (|v|² = 2): A − v wᵀ − w vᵀ + (vᵀ A v) v vᵀ, w = A v.
    let vav = 0;
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * v[k];
      w[i] = s;
      vav += v[i] * s;
    }
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) a[i * n + j] += -v[i] * w[j] - w[i] * v[j] + vav * v[i] * v[j];
    }
  }
  return a;
}

/**
 * A = Xᵀ X / m with m = ⌈n/2⌉ Gaussian rows and decaying column scales (rank-deficient, like a KFAC
 * activation factor from a small batch), and its largest eigenvalue.
 */
export function kfacFactor(n: number, seed = 1): { a: Float64Array; lambdaMax: number } {
  const rand = seededRandom(seed);
  const m = Math.max(1, Math.ceil(n / 2));
  const x = new Float64Array(m * n);
  for (let r = 0; r < m; r++) for (let c = 0; c < n; c++) x[r * n + c] = gaussian(rand) * Math.exp((-2 * c) / n);
  const a = new Float64Array(n * n);
  for (let r = 0; r < m; r++) {
    for (let i = 0; i < n; i++) {
      const xi = x[r * n + i] / m;
      for (let j = 0; j < n; j++) a[i * n + j] += xi * x[r * n + j];
    }
  }
  const lambdaMax = n <= 160 ? hostEigh(a, n).values[n - 1] : powerIteration(a, n, rand);
  return { a, lambdaMax };
}

/**
 * The damping λ with κ(A + λI) = kappa for a rank-deficient PSD A (λ_min(A + λI) = λ exactly).
 * For n = 1, A is a positive scalar and κ = 1 whatever λ is.
 */
export function dampingForCondition(lambdaMax: number, kappa: number): number {
  return lambdaMax / (kappa - 1);
}

/** kfacFactor plus the damping for a target condition number. */
export function kfacLike(n: number, kappa: number, seed = 1): { a: Float64Array; damping: number } {
  const { a, lambdaMax } = kfacFactor(n, seed);
  return { a, damping: dampingForCondition(lambdaMax, kappa) };
}

function powerIteration(a: Float64Array, n: number, rand: () => number): number {
  let v = Float64Array.from({ length: n }, () => gaussian(rand));
  let lambda = 0;
  for (let it = 0; it < 500; it++) {
    const w = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += a[i * n + k] * v[k];
      w[i] = s;
    }
    const norm = Math.hypot(...w);
    const next = norm / Math.hypot(...v);
    v = w.map((x) => x / norm);
    if (Math.abs(next - lambda) <= 1e-13 * next) return next;
    lambda = next;
  }
  return lambda;
}
