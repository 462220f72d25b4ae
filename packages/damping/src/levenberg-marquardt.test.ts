import * as tf from '@tensorflow/tfjs';
import type { CurvatureView } from '@natgrad/core';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { dampingFromState, levenbergMarquardt, quadraticModelChange, readReductionRatio } from './index';

describe('levenbergMarquardt(): the kfac-jax rule', () => {
  it('has kfac-jax defaults: every 5 steps, thresholds 0.25 / 0.75, factor 0.9^5, bounds [1e-8, inf)', () => {
    const lm = levenbergMarquardt({ initial: 1 });
    expect(lm.adaptEvery).toBe(5);
    expect(lm.factor).toBeCloseTo(0.9 ** 5, 15);
    lm.observe({ step: 4, reductionRatio: 0.9 });
    expect(lm.value(5)).toBeCloseTo(0.59049, 12);
    lm.observe({ step: 9, reductionRatio: 0.5 });
    expect(lm.value(10)).toBeCloseTo(0.59049, 12);
    lm.observe({ step: 14, reductionRatio: 0.1 });
    expect(lm.value(15)).toBeCloseTo(1, 12);
    lm.observe({ step: 19, reductionRatio: Number.NaN });
    expect(lm.value(20)).toBeCloseTo(1 / 0.59049, 12);
    expect(lm.lastReductionRatio).toBeNaN();
    // Thresholds are strict, as in kfac-jax.
    const edge = levenbergMarquardt({ initial: 1 });
    edge.observe({ step: 0, reductionRatio: 0.75 });
    edge.observe({ step: 1, reductionRatio: 0.25 });
    expect(edge.damping).toBe(1);
  });

  it('respects min and max, and raises lambda x10 after a non-finite step', () => {
    const lm = levenbergMarquardt({ initial: 1e-3, min: 1e-4, max: 1e-2, decay: 0.5, adaptEvery: 1 });
    for (let t = 0; t < 10; t++) lm.observe({ step: t, reductionRatio: 1 });
    expect(lm.damping).toBe(1e-4);
    for (let t = 0; t < 10; t++) lm.observe({ step: t, reductionRatio: -5 });
    expect(lm.damping).toBe(1e-2);
    const up = levenbergMarquardt({ initial: 1e-3, max: 5e-2 });
    up.onNonFiniteStep(3);
    expect(up.damping).toBeCloseTo(1e-2, 15);
    up.onNonFiniteStep(4);
    expect(up.damping).toBe(5e-2);
  });

  it('state round-trips through JSON (Infinity max, NaN ratio) and rejects other options', () => {
    const lm = levenbergMarquardt({ initial: 0.1 });
    lm.observe({ step: 4, reductionRatio: 0.95 });
    lm.observe({ step: 9, reductionRatio: Number.NaN });
    lm.observe({ step: 14, reductionRatio: 0.9 });
    const state = JSON.parse(JSON.stringify(lm.getState()));
    const back = dampingFromState(state) as ReturnType<typeof levenbergMarquardt>;
    expect(back.damping).toBe(lm.damping);
    expect(back.lastReductionRatio).toBe(0.9);
    expect(back.adaptEvery).toBe(5);
    back.observe({ step: 19, reductionRatio: 0.9 });
    lm.observe({ step: 19, reductionRatio: 0.9 });
    expect(back.damping).toBe(lm.damping);
    const fresh = levenbergMarquardt({ initial: 0.1 });
    fresh.setState(state);
    expect(fresh.damping).toBe(back.damping / lm.factor);
    expect(() => levenbergMarquardt({ initial: 0.2 }).setState(state)).toThrow(/other options/);
    const corrupt = JSON.parse(JSON.stringify(state));
    corrupt.values.damping = -1;
    expect(() => fresh.setState(corrupt)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
  });

  it('rejects bad options and observations', () => {
    const bad: (() => unknown)[] = [
      () => levenbergMarquardt({ initial: 0 }),
      () => levenbergMarquardt({ initial: 1, min: 2 }),
      () => levenbergMarquardt({ initial: 1, max: 0.5 }),
      () => levenbergMarquardt({ initial: 1, decay: 1 }),
      () => levenbergMarquardt({ initial: 1, lower: 0.8, upper: 0.2 }),
      () => levenbergMarquardt({ initial: 1, adaptEvery: 0 }),
      () => levenbergMarquardt({ initial: 1, nonFiniteFactor: 0.5 }),
      () => levenbergMarquardt({ initial: 1, adapt_every: 5 } as never),
      () => levenbergMarquardt({ initial: 1 }).observe({ step: -1, reductionRatio: 0.5 }),
      () => levenbergMarquardt({ initial: 1 }).observe({ step: 1, reductionRatio: '0.5' as never }),
    ];
    for (const f of bad) expect(f).toThrow(NatgradError);
  });
});

describe('levenbergMarquardt() on a quadratic loss L(w) = 1/2 w^T H w - b^T w', () => {
  const h = [
    [3, 1, 0],
    [1, 2, 0.5],
    [0, 0.5, 1],
  ];
  const b = [1, -2, 0.5];
  const hT = () => tf.tensor2d(h);
  const loss = (w: number[]) =>
    0.5 * w.reduce((s, wi, i) => s + wi * h[i].reduce((t, hij, j) => t + hij * w[j], 0), 0) - w.reduce((s, wi, i) => s + wi * b[i], 0);
  const grad = (w: number[]) => h.map((row, i) => row.reduce((s, hij, j) => s + hij * w[j], 0) - b[i]);
  /** A view whose F is `scaleF` H (a curvature estimate that is off by that factor). */
  const view = (scaleF: number): CurvatureView => ({
    blocks: [{ name: 'w', params: ['w'] }],
    precondition: () => {
      throw new Error('not used');
    },
    multiply: (v) => tf.tidy(() => ({ w: tf.reshape(tf.mul(tf.matMul(hT(), tf.reshape(v.w, [3, 1])), scaleF), [3]) })),
  });
  /** delta = -(scaleF H + lambda I)^-1 g by Gaussian elimination. */
  const solveStep = (scaleF: number, lambda: number, g: number[]) => {
    const a = h.map((row, i) => [...row.map((x, j) => scaleF * x + (i === j ? lambda : 0)), -g[i]]);
    for (let c = 0; c < 3; c++) {
      for (let r = 0; r < 3; r++) {
        if (r === c) continue;
        const f = a[r][c] / a[c][c];
        for (let k = c; k < 4; k++) a[r][k] -= f * a[c][k];
      }
    }
    return a.map((row, i) => row[3] / row[i]);
  };
  /** One LM observation: step with the current lambda, measure rho, observe. */
  const observeOnce = async (lm: ReturnType<typeof levenbergMarquardt>, scaleF: number, w: number[], step: number) => {
    const g = grad(w);
    const lambda = lm.value(step);
    const delta = solveStep(scaleF, lambda, g);
    const gT = { w: tf.tensor1d(g) };
    const dT = { w: tf.tensor1d(delta) };
    const q = quadraticModelChange(gT, dT, view(scaleF), lambda);
    const rho = await readReductionRatio(loss(w), loss(w.map((x, i) => x + delta[i])), q);
    tf.dispose([gT.w, dT.w, q]);
    lm.observe({ step, reductionRatio: rho });
    return rho;
  };

  it('an underestimated curvature overshoots (rho < 0.25) and lambda goes up until the model is trusted', async () => {
    const before = tf.memory().numTensors;
    const lm = levenbergMarquardt({ initial: 1e-3 });
    const w = [2, -1, 3];
    const first = await observeOnce(lm, 0.1, w, 4);
    expect(first).toBeLessThan(0.25);
    expect(lm.damping).toBeGreaterThan(1e-3);
    let rho = first;
    let step = 9;
    const history = [lm.damping];
    for (;;) {
      const lambdaUsed = lm.damping;
      rho = await observeOnce(lm, 0.1, w, step);
      step += 5;
      if (rho >= 0.25 || step > 500) {
        // The first accepted step: lambda stays (rho <= 0.75) or starts coming down (rho > 0.75).
        expect(lm.damping).toBeLessThanOrEqual(lambdaUsed);
        break;
      }
      history.push(lm.damping);
    }
    // lambda grew by the LM factor at every rejected step, until the step became acceptable.
    for (let i = 1; i < history.length; i++) expect(history[i] / history[i - 1]).toBeCloseTo(1 / 0.9 ** 5, 10);
    expect(history.length).toBeGreaterThan(2);
    expect(rho).toBeGreaterThanOrEqual(0.25);
    expect(lm.damping).toBeGreaterThan(0.1);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the exact curvature gives rho ~ 1 and lambda goes down, never below min', async () => {
    const lm = levenbergMarquardt({ initial: 1e-2, min: 1e-3 });
    const w = [2, -1, 3];
    const rho = await observeOnce(lm, 1, w, 4);
    expect(rho).toBeGreaterThan(0.99);
    expect(rho).toBeLessThan(1.01);
    expect(lm.damping).toBeCloseTo(1e-2 * 0.9 ** 5, 12);
    for (let t = 9; t < 200; t += 5) await observeOnce(lm, 1, w, t);
    expect(lm.damping).toBe(1e-3);
  });
});
