import { describe, expect, it } from 'vitest';
import { NatgradError } from '@natgrad/core';
import { hostCholesky, hostCholeskySolve, hostEigh, hostSpdInverse } from './host';
import { hostInverseResidual } from './residual';
import { dampingForCondition, kfacFactor, kfacLike, randomSpd, seededRandom } from './test-matrices';

const KAPPAS = [10, 1e3, 1e6];

describe('float64 host routines', () => {
  it.each([1, 2, 16, 128, 512])('inverts random SPD matrices (n = %i) to a relative residual below 1e-9', (n) => {
    for (const kappa of KAPPAS) {
      const a = randomSpd(n, kappa, n + kappa);
      const x = hostSpdInverse(a, n, 0);
      expect(hostInverseResidual(a, n, 0, x)).toBeLessThan(1e-9);
    }
  });

  it.each([2, 16, 128, 512])('inverts KFAC-like damped factors (n = %i) for κ from 10 to 1e6', (n) => {
    const { a, lambdaMax } = kfacFactor(n, n);
    for (const kappa of [10, 1e2, 1e3, 1e4, 1e5, 1e6]) {
      const damping = dampingForCondition(lambdaMax, kappa);
      const x = hostSpdInverse(a, n, damping);
      expect(hostInverseResidual(a, n, damping, x)).toBeLessThan(1e-9);
    }
  });

  it('Cholesky reconstructs A + λI and solves agree with the inverse', () => {
    const n = 24;
    const { a, damping } = kfacLike(n, 1e4, 7);
    const l = hostCholesky(a, n, damping);
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += l[i * n + k] * l[j * n + k];
        expect(s).toBeCloseTo(a[i * n + j] + (i === j ? damping : 0), 12);
        if (j > i) expect(l[i * n + j]).toBe(0);
      }
    }
    const rand = seededRandom(3);
    const b = Float64Array.from({ length: n * 3 }, () => rand() - 0.5);
    const y = hostCholeskySolve(l, n, b, 3);
    const x = hostSpdInverse(a, n, damping);
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        let s = 0;
        for (let k = 0; k < n; k++) s += x[i * n + k] * b[k * 3 + c];
        expect(y[i * 3 + c]).toBeCloseTo(s, 6);
      }
    }
  });

  it.each([
    [1, 'auto'],
    [2, 'auto'],
    [9, 'jacobi'],
    [9, 'tridiagonal-ql'],
    [40, 'auto'],
    [40, 'jacobi'],
    [128, 'auto'],
  ] as const)('eigh reconstructs A and returns orthonormal vectors (n = %i, %s)', (n, method) => {
    const a = randomSpd(n, 1e3, 11 + n);
    const { values, vectors } = hostEigh(a, n, method);
    for (let i = 1; i < n; i++) expect(values[i]).toBeGreaterThanOrEqual(values[i - 1]);
    expect(values[0]).toBeCloseTo(n === 1 ? 1 : 1e-3, 12);
    expect(values[n - 1]).toBeCloseTo(1, 12);
    let recon = 0;
    let ortho = 0;
    for (let i = 0; i < n; i++) {
      for (let j = 0; j < n; j++) {
        let s = 0;
        let o = 0;
        for (let k = 0; k < n; k++) {
          s += vectors[i * n + k] * values[k] * vectors[j * n + k];
          o += vectors[k * n + i] * vectors[k * n + j];
        }
        recon = Math.max(recon, Math.abs(s - a[i * n + j]));
        ortho = Math.max(ortho, Math.abs(o - (i === j ? 1 : 0)));
      }
    }
    expect(recon).toBeLessThan(1e-12);
    expect(ortho).toBeLessThan(1e-12);
  });

  it('eigh handles repeated eigenvalues and a zero matrix', () => {
    const n = 20;
    const eye = new Float64Array(n * n);
    for (let i = 0; i < n; i++) eye[i * n + i] = 2;
    const r = hostEigh(eye, n);
    for (const v of r.values) expect(v).toBeCloseTo(2, 14);
    const z = hostEigh(new Float64Array(n * n), n);
    for (const v of z.values) expect(v).toBe(0);
  });

  it('rejects non-SPD, non-finite and malformed input with coded errors', () => {
    const indefinite = Float64Array.from([1, 2, 2, 1]);
    expect(() => hostSpdInverse(indefinite, 2, 0)).toThrow(expect.objectContaining({ code: 'NOT_POSITIVE_DEFINITE' }));
    expect(() => hostSpdInverse(indefinite, 2, 1.5)).not.toThrow();
    expect(() => hostSpdInverse(Float64Array.from([1, Number.NaN, 0, 1]), 2, 0)).toThrow(
      expect.objectContaining({ code: 'NON_FINITE_INPUT' }),
    );
    expect(() => hostEigh(Float64Array.from([1, Number.POSITIVE_INFINITY, 0, 1]), 2)).toThrow(NatgradError);
    expect(() => hostSpdInverse(new Float64Array(6), 2, 0)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => hostSpdInverse(Float64Array.from([1]), 1, -1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => hostCholeskySolve(Float64Array.from([1]), 1, new Float64Array(3), 2)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
  });
});
