import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { cholesky, dampedInverse, dampedInverseDetailed, hostEigh, hostInverseResidual, roundoffTolerance } from './index';
import { noLeak, rejection } from './test-helpers';
import { randomSpd } from './test-matrices';

const U = 2 ** -24;

/** Q diag(μ) Qᵀ (float64) with a fixed orthonormal Q, so the spectrum is known exactly. */
function withSpectrum(mu: readonly number[], seed = 3): Float64Array {
  const n = mu.length;
  const q = hostEigh(randomSpd(n, 10, seed), n).vectors;
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k] * mu[k] * q[j * n + k];
      a[i * n + j] = s;
    }
  }
  return a;
}

/** A rank-deficient PSD factor (‖A‖₂ = 1): 16 eigenvalues in [1e-2, 1], the rest 0, the smallest set to `lowest`. */
function factorSpectrum(n: number, lowest: number): number[] {
  const mu = Array.from({ length: n }, (_, i) => (i < n - 16 ? 0 : 10 ** (-2 + (2 * (i - n + 16)) / 15)));
  mu[0] = lowest;
  return mu;
}

/**
 * Reference (A_clipped + λI)⁻¹ from the float32-rounded input by an independent float64 eigensolver
 * (cyclic Jacobi; the library uses Householder + QL), negatives within τ clipped.
 */
function reference(a32: Float64Array, n: number, damping: number): { x: Float64Array; clipped: Float64Array } {
  const { values, vectors: v } = hostEigh(a32, n, 'jacobi');
  const tau = roundoffTolerance(n, Math.max(Math.abs(values[0]), Math.abs(values[n - 1])));
  const d = values.map((mu) => (mu < 0 && mu >= -tau ? 0 : mu));
  const x = new Float64Array(n * n);
  const clipped = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      let c = 0;
      for (let k = 0; k < n; k++) {
        s += (v[i * n + k] * v[j * n + k]) / (d[k] + damping);
        c += v[i * n + k] * d[k] * v[j * n + k];
      }
      x[i * n + j] = s;
      clipped[i * n + j] = c;
    }
  }
  return { x, clipped };
}

describe('matrices that are PSD only up to roundoff', () => {
  const n = 32;
  const damping = 1e-8;
  const raw = withSpectrum(factorSpectrum(n, -1e-7));
  const a32 = Float64Array.from(Float32Array.from(raw));
  const ref = reference(a32, n, damping);
  const scale = Math.max(...ref.x.map(Math.abs));

  it.each(['host', 'blocked', 'newton-schulz'] as const)('%s: a −1e-7·‖A‖ eigenvalue and λ = 1e-8 invert (A_clipped + λI)', async (method) => {
    const a = tf.tensor2d(Float32Array.from(raw), [n, n]);
    const r = await noLeak(() => dampedInverseDetailed(a, damping, { method, blockSize: 8 }), 1);
    expect(r.fallback, method).toBeDefined();
    expect(r.fallback?.minEigenvalue).toBeLessThan(-5e-8);
    expect(r.fallback?.minEigenvalue).toBeGreaterThan(-r.fallback!.tolerance);
    expect(r.fallback?.clipped).toBeGreaterThanOrEqual(1);
    const x = (await r.inverse.data()) as Float32Array;
    let diff = 0;
    for (let i = 0; i < n * n; i++) diff = Math.max(diff, Math.abs(x[i] - ref.x[i]));
    // float64 answer rounded once to float32; the two eigensolvers agree to ~1e-16·‖A‖ ≪ λ.
    expect(diff / scale, method).toBeLessThan(1e-5);
    // The host guarantee r ≤ κ·u, stated for the clipped matrix (κ = (1 + λ)/λ).
    expect(hostInverseResidual(ref.clipped, n, damping, x)).toBeLessThanOrEqual(((1 + damping) / damping) * U);
    tf.dispose([a, r.inverse]);
  });

  it.each(['host', 'blocked'] as const)('cholesky (%s) factors A_clipped + λI instead of failing', async (method) => {
    const a = tf.tensor2d(Float32Array.from(raw), [n, n]);
    const lambda = 1e-8;
    const l = await noLeak(() => cholesky(a, lambda, { method }), 1);
    const lv = await l.data();
    const { clipped } = reference(a32, n, lambda);
    let err = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += lv[i * n + k] * lv[j * n + k];
        err = Math.max(err, Math.abs(s - clipped[i * n + j] - (i === j ? lambda : 0)));
      }
    }
    expect(err).toBeLessThan(1e-6);
    tf.dispose([a, l]);
  });

  it('a genuinely PSD input never takes the fallback', async () => {
    const a = tf.tensor2d(Float32Array.from(withSpectrum(factorSpectrum(n, 0.5))), [n, n]);
    const r = await dampedInverseDetailed(a, 1e-3, { method: 'blocked', blockSize: 8 });
    expect(r.fallback).toBeUndefined();
    tf.dispose([a, r.inverse]);
  });
});

describe('rejections state the numbers', () => {
  const n = 32;
  it.each(['host', 'blocked', 'newton-schulz'] as const)('%s rejects a clearly indefinite matrix (μ_min = −1e-2·‖A‖, λ = 1e-3)', async (method) => {
    const a = tf.tensor2d(Float32Array.from(withSpectrum(factorSpectrum(n, -1e-2))), [n, n]);
    const error = await rejection(noLeak(() => dampedInverse(a, 1e-3, { method, blockSize: 8 }), 0));
    expect(error.code).toBe('NOT_POSITIVE_DEFINITE');
    const message = String(error);
    expect(message).toMatch(/μ_min = -1\.000e-2/);
    expect(message).toContain(`τ = n·2⁻²³·‖A‖₂ = ${roundoffTolerance(n, 1).toExponential(3)}`);
    expect(message).toMatch(/raise the damping above \|μ_min\| = 1\.000e-2/);
    await expect(noLeak(() => cholesky(a, 1e-3, { method: method === 'newton-schulz' ? 'host' : method }), 0)).rejects.toThrow(/μ_min = -1\.000e-2/);
    a.dispose();
  });

  it('rejects zero damping on a singular PSD matrix, and accepts the same matrix damped', async () => {
    const a = tf.tensor2d(Float32Array.from(withSpectrum(factorSpectrum(n, 0))), [n, n]);
    for (const method of ['host', 'blocked', 'newton-schulz'] as const) {
      await expect(noLeak(() => dampedInverse(a, 0, { method, blockSize: 8 }), 0), method).rejects.toThrow(/singular up to roundoff/);
    }
    await expect(cholesky(a, 0)).rejects.toThrow(/singular up to roundoff/);
    const x = await dampedInverse(a, 1e-2, { method: 'blocked', blockSize: 8 });
    expect(Number.isFinite((await x.data())[0])).toBe(true);
    tf.dispose([a, x]);
  });
});
