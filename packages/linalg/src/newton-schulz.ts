/**
 * Newton–Schulz (Hotelling–Bodewig) iteration for the inverse of an SPD matrix M = sym(A) + λI,
 * matMul only, so it runs wherever matMul is fast (GPU backends). Schulz (1933); Pan & Schreiber,
 * "An improved Newton iteration for the generalized inverse of a matrix" (SIAM J. Sci. Stat. Comput.
 * 1991), eq. (1.2): X_{k+1} = X_k (2I − M X_k). With R_k = I − M X_k this gives R_{k+1} = R_k²
 * EXACTLY, for any X_k, so ‖R_{k+1}‖_F ≤ ‖R_k‖_2 ‖R_k‖_F: convergence is guaranteed once
 * ‖R_k‖_F < 1, and quadratic from then on.
 *
 * Cold start X_0 = I/c with c = min(‖M‖_F, ‖M‖_∞). Both norms bound the spectral radius, so for SPD M
 * the eigenvalues of R_0 = I − M/c are 1 − μ_i/c ∈ [0, 1): ρ(R_0) < 1 and the iteration converges
 * (docs/algorithms/linalg.md has the proof). A warm start (the previous inverse) is used only when its
 * residual ‖R‖_F < 1, the condition under which the guarantee above holds; otherwise we cold start.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { nonFinite } from './validate';

const NS_DEFAULT_MAX_ITERATIONS = 60;
/** Default stop: ‖I − M X‖_F / √n below this (float32 usually stalls first; the stall test stops it then). */
const NS_DEFAULT_TOLERANCE = 1e-6;

export interface NewtonSchulzOptions {
  warmStart?: tf.Tensor2D;
  maxIterations?: number;
  /** Target for the normalised residual ‖I − M X‖_F / √n. */
  tolerance?: number;
}

export interface NewtonSchulzResult {
  /** The best iterate (lowest residual). Caller owns it. */
  inverse: tf.Tensor2D;
  /** Normalised residual ‖I − M X‖_F / √n of `inverse`, measured in float32 on the device. */
  residual: number;
  iterations: number;
  warmStarted: boolean;
}

/** R = I − M X and ‖R‖_F, read as one number (one awaited device→host read); R is disposed if the read fails. */
async function residualOf(m: tf.Tensor2D, x: tf.Tensor2D, eye: tf.Tensor2D): Promise<{ r: tf.Tensor2D; norm: number }> {
  const [r, normT] = tf.tidy(() => {
    const res = tf.sub(eye, tf.matMul(m, x)) as tf.Tensor2D;
    return [res, tf.sqrt(tf.sum(tf.square(res)))] as const;
  });
  try {
    return { r, norm: (await normT.data())[0] };
  } catch (error) {
    r.dispose();
    throw error;
  } finally {
    normT.dispose();
  }
}

/**
 * Inverse of the SPD matrix `m` (already symmetrised and damped, owned by the caller). Throws
 * NOT_POSITIVE_DEFINITE when the residual grows (an eigenvalue ≤ 0 makes |1 − μ/c| > 1) and
 * CONVERGENCE_FAILED when float32 cannot bring ‖R‖_F below 1 within the cap (κ too large for float32).
 */
export async function newtonSchulzInverse(m: tf.Tensor2D, options: NewtonSchulzOptions = {}): Promise<NewtonSchulzResult> {
  const n = m.shape[0];
  const maxIterations = options.maxIterations ?? NS_DEFAULT_MAX_ITERATIONS;
  const tolerance = options.tolerance ?? NS_DEFAULT_TOLERANCE;
  const sqrtN = Math.sqrt(n);

  const normsT = tf.tidy(() =>
    tf.stack([tf.sqrt(tf.sum(tf.square(m))), tf.max(tf.sum(tf.abs(m), 1)), tf.sum(tf.mul(m, 0))]),
  );
  let norms: Float32Array;
  try {
    norms = (await normsT.data()) as Float32Array;
  } finally {
    normsT.dispose();
  }
  const [frob, inf, probe] = Array.from(norms);
  if (!Number.isFinite(probe) || !Number.isFinite(frob)) throw nonFinite('newtonSchulzInverse', 'NaN, ±Infinity or overflow in A + λI');
  if (frob === 0) {
    throw new NatgradError('NOT_POSITIVE_DEFINITE', 'newtonSchulzInverse: A + λI is the zero matrix.', {
      expected: 'a symmetric positive definite A + λI',
      received: 'all entries 0 (A = 0 and λ = 0)',
      fix: 'use a damping λ > 0',
    });
  }

  const eye = tf.eye(n) as tf.Tensor2D;
  let x: tf.Tensor2D | null = null;
  let state: { r: tf.Tensor2D; norm: number } | null = null;
  let warmStarted = false;
  try {
    if (options.warmStart !== undefined) {
      const candidate = await residualOf(m, options.warmStart, eye);
      if (candidate.norm < 1) {
        x = tf.clone(options.warmStart);
        state = candidate;
        warmStarted = true;
      } else {
        candidate.r.dispose();
      }
    }
    if (x === null || state === null) {
      const scale = 1 / Math.min(frob, inf);
      x = tf.tidy(() => tf.mul(eye, scale) as tf.Tensor2D);
      state = await residualOf(m, x, eye);
    }
  } catch (error) {
    // A failed read (device lost) must not leak the identity or the start iterate.
    x?.dispose();
    eye.dispose();
    throw error;
  }

  let best = x;
  let bestNorm = state.norm;
  const initialNorm = Math.max(state.norm, 1);
  let iterations = 0;
  try {
    while (bestNorm / sqrtN > tolerance && iterations < maxIterations) {
      const r = state.r;
      // X ← X + X R = X (2I − M X), symmetrised because rounding breaks the exact symmetry of X M X.
      const next = tf.tidy(() => {
        const y = tf.add(x as tf.Tensor2D, tf.matMul(x as tf.Tensor2D, r));
        return tf.mul(tf.add(y, tf.transpose(y)), 0.5) as tf.Tensor2D;
      });
      r.dispose();
      iterations++;
      if (x !== best) x.dispose();
      x = next;
      state = await residualOf(m, x, eye);
      const norm = state.norm;
      // For SPD input ‖R_k‖_F never exceeds ‖R_0‖_F in exact arithmetic; an eigenvalue ≤ 0 makes it grow
      // like e^(2^k) with e > 1, so doubling is an unambiguous sign (rounding cannot double it).
      if (!Number.isFinite(norm) || norm > 2 * initialNorm) {
        throw new NatgradError('NOT_POSITIVE_DEFINITE', 'newtonSchulzInverse: A + λI is not positive definite.', {
          expected: 'a residual ‖I − (A+λI)X‖_F that never grows (true for every SPD matrix)',
          received: `residual grew from ${bestNorm.toExponential(3)} to ${norm.toExponential(3)} at iteration ${iterations}`,
          fix: 'increase the damping, or check that A is a covariance (Xᵀ X / n)',
        });
      }
      if (norm < bestNorm) {
        if (best !== x) best.dispose();
        best = x;
        const stalled = bestNorm < 0.5 && norm > 0.75 * bestNorm;
        bestNorm = norm;
        // Once ‖R‖_F < 1/2 exact arithmetic at least halves it; less means float32 rounding dominates.
        if (stalled) break;
      } else if (bestNorm < 1) {
        break; // Rounding floor reached: the next iterate is no better than the best one.
      }
    }
  } catch (error) {
    if (x !== best) x.dispose();
    best.dispose();
    throw error;
  } finally {
    state.r.dispose();
    eye.dispose();
  }
  if (x !== best) x.dispose();
  if (!(bestNorm < 1)) {
    best.dispose();
    throw new NatgradError('CONVERGENCE_FAILED', 'newtonSchulzInverse: float32 Newton–Schulz did not converge.', {
      expected: `‖I − (A+λI)X‖_F < 1 within ${maxIterations} iterations`,
      received: `‖I − (A+λI)X‖_F = ${bestNorm.toExponential(3)} after ${iterations} iterations`,
      fix: "A + λI is too ill-conditioned for float32 (κ ≳ 1e7): increase the damping, raise maxIterations, or use method 'host'",
    });
  }
  return { inverse: best, residual: bestNorm / sqrtN, iterations, warmStarted };
}
