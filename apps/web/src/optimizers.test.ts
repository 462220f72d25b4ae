import { describe, expect, it } from 'vitest';
import { DEFAULTS, OPTIMIZERS, composition } from './optimizers';

describe('page optimizers', () => {
  it('use the CLI defaults unless overridden: damping 1e-2 for the curvature ones, per-optimizer learning rates', () => {
    for (const name of OPTIMIZERS) {
      const c = composition(name);
      expect(typeof c.learningRate === 'number' ? c.learningRate : Number.NaN).toBe(DEFAULTS[name].learningRate);
      if (DEFAULTS[name].damping === undefined) expect(c.curvature ?? null).toBeNull();
      else expect(c.damping?.value(0)).toBe(1e-2);
      c.updateRule.dispose();
      c.curvature?.dispose();
    }
    const custom = composition('fop', 0.003, 0.05);
    expect(custom.learningRate).toBe(0.003);
    expect(custom.damping?.value(0)).toBe(0.05);
    custom.updateRule.dispose();
    custom.curvature?.dispose();
  });

  it('refuses an unknown name or a non-positive rate or damping', () => {
    expect(() => composition('lbfgs' as never)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => composition('sgd', 0)).toThrow(/learning rate/);
    expect(() => composition('kfac', undefined, Number.NaN)).toThrow(/damping/);
  });
});
