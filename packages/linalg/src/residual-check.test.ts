import { describe, expect, it } from 'vitest';
import { hostSpdInverse, hostSymmetrize } from './host';
import { hostInverseResidual } from './residual';
import { checkInverse } from './residual-check';
import { dampingForCondition, kfacFactor, randomSpd, seededRandom } from './test-matrices';

/** X = M⁻¹ (float64) plus a random symmetric perturbation of relative size `eps`, so r is known to be ≈ eps·‖M‖·‖M⁻¹‖-ish. */
function perturbedInverse(m: Float64Array, n: number, eps: number, seed: number): Float64Array {
  const x = hostSpdInverse(m, n);
  const rand = seededRandom(seed);
  let scale = 0;
  for (const v of x) scale = Math.max(scale, Math.abs(v));
  for (let i = 0; i < n; i++) {
    for (let j = 0; j <= i; j++) {
      const d = (rand() - 0.5) * 2 * eps * scale;
      x[i * n + j] += d;
      if (j !== i) x[j * n + i] += d;
    }
  }
  return x;
}

describe('checkInverse (the blocked method’s a-posteriori check)', () => {
  const problems = [
    { label: 'random SPD κ=1e3', n: 64, m: () => randomSpd(64, 1e3, 3), kappa: 1e3 },
    { label: 'random SPD κ=1e5', n: 100, m: () => randomSpd(100, 1e5, 4), kappa: 1e5 },
    {
      label: 'KFAC-like κ=1e4',
      n: 96,
      m: () => {
        const { a, lambdaMax } = kfacFactor(96, 7);
        return hostSymmetrize(a, 96, dampingForCondition(lambdaMax, 1e4));
      },
      kappa: 1e4,
    },
  ];

  it.each(problems)('estimates r within a factor 2 and bounds κ from below ($label)', ({ n, m, kappa }) => {
    const matrix = m();
    for (const [i, eps] of [1e-7, 1e-5, 1e-3].entries()) {
      const x = perturbedInverse(matrix, n, eps, 11 + i);
      const exact = hostInverseResidual(matrix, n, 0, x);
      const check = checkInverse(matrix, x, n);
      expect(check.residualEstimate).toBeGreaterThan(exact / 2);
      expect(check.residualEstimate).toBeLessThan(exact * 2);
      // A lower bound (never looser than the true κ), and a useful one while X is a usable inverse; a
      // poor X only lowers it, which makes the blocked threshold stricter.
      expect(check.conditionLowerBound).toBeLessThanOrEqual(kappa * (1 + 1e-6));
      if (exact < 0.1) expect(check.conditionLowerBound).toBeGreaterThan(kappa / 10);
    }
  });

  it('is deterministic and flags a useless or non-finite inverse', () => {
    const n = 32;
    const matrix = randomSpd(n, 100, 9);
    const x = perturbedInverse(matrix, n, 1e-4, 2);
    expect(checkInverse(matrix, x, n)).toEqual(checkInverse(matrix, x, n));
    // X = 0 has r = 1 exactly; a NaN anywhere makes the estimate NaN, which no threshold accepts.
    expect(checkInverse(matrix, new Float64Array(n * n), n).residualEstimate).toBeCloseTo(1, 0);
    const bad = Float64Array.from(x);
    bad[5] = Number.NaN;
    expect(checkInverse(matrix, bad, n).residualEstimate <= 1e9).toBe(false);
  });
});
