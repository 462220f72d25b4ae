/**
 * The fallback for matrices that are PSD only up to roundoff. A KFAC factor E[a aᵀ] is PSD in exact
 * arithmetic, but float32 accumulation leaves eigenvalues of order ε·‖A‖ on either side of 0, so with
 * a tiny (or π-scaled to zero) damping the Cholesky of A + λI can fail on a matrix that is, for every
 * practical purpose, fine. When a method's SPD test fails we decide from the float64 spectrum of
 * sym(A) (host.ts, Householder + QL) instead: eigenvalues within the roundoff tolerance
 * τ = n·ε₃₂·‖A‖₂ (ε₃₂ = 2⁻²³) are clipped to 0. τ is the usual scale of float32 accumulation error
 * in an n×n matrix (a sum of k terms errs by up to γ_k ≈ k·u relative, Higham, "Accuracy and Stability
 * of Numerical Algorithms" 2nd ed., §3.1, eq. (3.5); by Weyl's inequality an error δA moves each
 * eigenvalue by at most ‖δA‖₂), with a margin: it is a policy choice, documented in
 * docs/algorithms/linalg.md, not a proof that smaller negatives are noise. Then
 * (A_clipped + λI)⁻¹ = V diag(1/(max(μᵢ,0) + λ)) Vᵀ (or its Cholesky factor) is formed in float64.
 * Rejected with NOT_POSITIVE_DEFINITE, stating the numbers: an eigenvalue below −τ with μ + λ ≤ 0
 * (genuinely indefinite), and λ = 0 with μ_min ≤ τ (singular up to roundoff). Cost O(n³) on the host
 * (~10 n³ flops; about 1 s at n = 512), paid only when the fast path has failed.
 */
import { NatgradError } from '@natgrad/core';
import { hostCholesky, hostEigh } from './host';

/** ε of float32 (2⁻²³), the unit of the roundoff tolerance n·ε·‖A‖₂. */
export const FLOAT32_EPSILON = 2 ** -23;

/** τ = n·ε₃₂·‖A‖₂: eigenvalues of sym(A) in [−τ, 0) are treated as rounding noise of a PSD matrix. */
export function roundoffTolerance(n: number, spectralNorm: number): number {
  return n * FLOAT32_EPSILON * spectralNorm;
}

export interface ClippedSpectrum {
  /** Ascending eigenvalues of sym(A) as computed (before clipping). */
  values: Float64Array;
  /** Eigenvectors as columns, row-major n×n. */
  vectors: Float64Array;
  /** μᵢ + λ after clipping −τ ≤ μᵢ < 0 to 0; all > 0. */
  damped: Float64Array;
  /** The most negative (smallest) eigenvalue of sym(A). */
  minEigenvalue: number;
  tolerance: number;
  /** How many eigenvalues were clipped to 0. */
  clipped: number;
}

function rejected(what: string, received: string, fix: string): NatgradError {
  return new NatgradError('NOT_POSITIVE_DEFINITE', `${what}: A + λI is not positive definite.`, {
    expected: 'a symmetric A that is PSD up to roundoff (eigenvalues ≥ −τ, τ = n·2⁻²³·‖A‖₂), and λ > 0 or A nonsingular',
    received,
    fix,
  });
}

/** The float64 spectrum of sym(A) with roundoff-level negatives clipped, or NOT_POSITIVE_DEFINITE. */
function clippedSpectrum(a: Float64Array, n: number, damping: number, what: string): ClippedSpectrum {
  const { values, vectors } = hostEigh(a, n);
  const minEigenvalue = values[0];
  const norm = Math.max(Math.abs(values[0]), Math.abs(values[n - 1]));
  const tolerance = roundoffTolerance(n, norm);
  const numbers = `most negative eigenvalue of sym(A) μ_min = ${minEigenvalue.toExponential(3)}, roundoff tolerance τ = n·2⁻²³·‖A‖₂ = ${tolerance.toExponential(3)} (n = ${n}, ‖A‖₂ = ${norm.toExponential(3)}), damping λ = ${damping}`;
  if (minEigenvalue < -tolerance && minEigenvalue + damping <= 0) {
    throw rejected(
      what,
      `${numbers}: μ_min is below −τ, so A is genuinely indefinite, and λ does not lift it above 0`,
      `raise the damping above |μ_min| = ${(-minEigenvalue).toExponential(3)}, or check that A is a covariance (Xᵀ X / n) and not an arbitrary matrix`,
    );
  }
  if (damping === 0 && minEigenvalue <= tolerance) {
    throw rejected(
      what,
      `${numbers}: with λ = 0, A is singular up to roundoff (μ_min ≤ τ)`,
      `use a damping λ > 0 (e.g. ≥ τ = ${tolerance.toExponential(3)}; KFAC typically uses 1e-3·‖A‖ or more)`,
    );
  }
  const damped = new Float64Array(n);
  let clipped = 0;
  for (let i = 0; i < n; i++) {
    const mu = values[i];
    const roundoff = mu < 0 && mu >= -tolerance;
    if (roundoff) clipped++;
    damped[i] = (roundoff ? 0 : mu) + damping;
  }
  return { values, vectors, damped, minEigenvalue, tolerance, clipped };
}

/** V diag(f(dᵢ)) Vᵀ in float64 (symmetric by construction). */
function spectralFunction(s: ClippedSpectrum, n: number, f: (d: number) => number): Float64Array {
  const { vectors: v, damped } = s;
  const scaled = new Float64Array(n * n); // V diag(f), row-major.
  const fd = damped.map(f);
  for (let r = 0; r < n; r++) for (let c = 0; c < n; c++) scaled[r * n + c] = v[r * n + c] * fd[c];
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let sum = 0;
      for (let c = 0; c < n; c++) sum += scaled[ri + c] * v[rj + c];
      out[ri + j] = sum;
      out[rj + i] = sum;
    }
  }
  return out;
}

export interface ClippedInverse {
  /** (A_clipped + λI)⁻¹, row-major float64. */
  inverse: Float64Array;
  spectrum: ClippedSpectrum;
}

/** (A_clipped + λI)⁻¹ from the float64 eigendecomposition, or NOT_POSITIVE_DEFINITE with the numbers. */
export function clippedEigenInverse(a: Float64Array, n: number, damping: number, what: string): ClippedInverse {
  const spectrum = clippedSpectrum(a, n, damping, what);
  return { inverse: spectralFunction(spectrum, n, (d) => 1 / d), spectrum };
}

/** Lower Cholesky factor of A_clipped + λI (formed in float64, then factored), or NOT_POSITIVE_DEFINITE. */
export function clippedCholesky(a: Float64Array, n: number, damping: number, what: string): Float64Array {
  const spectrum = clippedSpectrum(a, n, damping, what);
  try {
    return hostCholesky(spectralFunction(spectrum, n, (d) => d), n);
  } catch (error) {
    if (!(error instanceof NatgradError) || error.code !== 'NOT_POSITIVE_DEFINITE') throw error;
    const smallest = Math.min(...spectrum.damped);
    throw rejected(
      what,
      `smallest eigenvalue of A_clipped + λI = ${smallest.toExponential(3)} (μ_min of sym(A) = ${spectrum.minEigenvalue.toExponential(3)}, τ = ${spectrum.tolerance.toExponential(3)}, λ = ${damping}) is lost to float64 rounding in the factorisation`,
      'raise the damping',
    );
  }
}
