import { describe, expect, it } from 'vitest';
import { type StepTrace, compareFirstSteps, parityGamma } from './parity';

const shape = { fanInSum: 785 + 65 + 33, classes: 10, parameters: 784 * 64 + 64 + 64 * 32 + 32 + 32 * 10 + 10 };
const trace = (losses: number[], grad = 1.5): StepTrace[] => losses.map((loss) => ({ loss, gradNorm: grad, move: 0.01, maxAbsWeight: 0.5 }));

describe('backend parity bound', () => {
  it('γ counts every accumulation along the loss', () => {
    expect(parityGamma(shape, 64)).toBe((883 + 64 + 10 + 8) * 2 ** -23);
  });

  it('accepts float32 rounding at step 0 and refuses a difference a wrong kernel makes', () => {
    const ref = trace([2.3, 2.1, 1.9]);
    const near = trace([2.3 * (1 + 3e-6), 2.1 * (1 - 1e-5), 1.9 * (1 + 1e-5)]);
    expect(compareFirstSteps(ref, near, shape, 64, true).every((c) => c.ok)).toBe(true);
    const wrong = trace([2.3 * (1 + 1e-3), 2.1, 1.9]);
    const checks = compareFirstSteps(ref, wrong, shape, 64, true);
    expect(checks.find((c) => c.step === 0 && c.quantity === 'loss')?.ok).toBe(false);
  });

  it('widens the bound over steps as the weights drift, and compares only step 0 for preconditioned rules', () => {
    const ref = trace([2.3, 2.1, 1.9]);
    const losses = compareFirstSteps(ref, ref, shape, 64, true).filter((c) => c.quantity === 'loss');
    expect(losses.map((c) => c.step)).toEqual([0, 1, 2]);
    expect(losses[1].bound).toBeGreaterThan(losses[0].bound);
    expect(losses[2].bound).toBeGreaterThan(losses[1].bound);
    const fop = compareFirstSteps(ref, ref, shape, 64, false);
    expect(fop.map((c) => `${c.step}:${c.quantity}`)).toEqual(['0:loss', '0:gradNorm']);
  });
});
