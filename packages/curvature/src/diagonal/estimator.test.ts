import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { convProblem, denseProblem, relError } from '../testing/brute-force';
import { diagonal } from './estimator';

/** 1/N sum_n dW_n^2 from brute-force per-example gradients (kernel entries first, then bias). */
function meanSquares(perExample: number[][]): number[] {
  const out = new Array<number>(perExample[0].length).fill(0);
  for (const g of perExample) {
    g.forEach((x, i) => {
      out[i] += (x * x) / perExample.length;
    });
  }
  return out;
}

function leakCheck<T>(fn: () => T, returned = 0): T {
  const before = tf.memory().numTensors;
  const r = fn();
  expect(tf.memory().numTensors).toBe(before + returned);
  return r;
}

describe('diagonal', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it("'fisher' on Dense equals the brute-force mean of squared per-example gradients", () => {
    const p = denseProblem(21, 6, 3, 4);
    const est = diagonal();
    expect(est.requires).toEqual({ captures: true, fisher: 'sampled' });
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    expect(est.blocks.map((b) => b.name)).toEqual([p.layer.kernel, p.layer.bias]);
    leakCheck(() => est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 6 }));
    const k = est.statistic(p.layer.kernel);
    const b = est.statistic(p.layer.bias!);
    const got = [...k.dataSync(), ...b.dataSync()];
    expect(relError(got, meanSquares(p.perExampleGrads))).toBeLessThan(1e-5);
    tf.dispose([k, b]);
    est.dispose();
    p.dispose();
  });

  for (const geometry of [
    { strides: [2, 2], dilation: [1, 1], padding: 'same' },
    { strides: [1, 1], dilation: [2, 2], padding: 'valid' },
  ] as const) {
    it(`'fisher' on Conv2D (${geometry.padding}, stride ${geometry.strides[0]}, dilation ${geometry.dilation[0]}) equals per-example squared gradients through the conv`, () => {
      const p = convProblem(22, { n: 3, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], strides: [...geometry.strides], dilation: [...geometry.dilation], padding: geometry.padding });
      const est = diagonal({ fisher: 'empirical' });
      est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
      leakCheck(() => est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 3 }));
      const k = est.statistic(p.layer.kernel);
      const b = est.statistic(p.layer.bias!);
      expect(k.shape).toEqual([3, 3, 2, 3]);
      expect(relError([...k.dataSync(), ...b.dataSync()], meanSquares(p.perExampleGrads))).toBeLessThan(1e-5);
      tf.dispose([k, b]);
      est.dispose();
      p.dispose();
    });
  }

  it("'fisher' on Dense with flattened leading dims sums each example's rows before squaring", () => {
    const n = 2;
    const t = 3;
    const p = denseProblem(23, n * t, 2, 2);
    const est = diagonal();
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: n });
    const x = p.x.arraySync();
    const og = p.capture.outputGrad.arraySync() as number[][];
    const perExample: number[][] = [];
    for (let e = 0; e < n; e++) {
      const g = new Array<number>(2 * 2 + 2).fill(0);
      for (let r = e * t; r < (e + 1) * t; r++) {
        for (let i = 0; i < 2; i++) for (let j = 0; j < 2; j++) g[i * 2 + j] += x[r][i] * n * og[r][j];
        for (let j = 0; j < 2; j++) g[4 + j] += n * og[r][j];
      }
      perExample.push(g);
    }
    const k = est.statistic(p.layer.kernel);
    const b = est.statistic(p.layer.bias!);
    expect(relError([...k.dataSync(), ...b.dataSync()], meanSquares(perExample))).toBeLessThan(1e-5);
    tf.dispose([k, b]);
    est.dispose();
    p.dispose();
  });

  it("'empirical': debiased EMA of squared mean gradients; precondition g/(D+lambda); multiply D v; power 0.5", () => {
    const v = tf.variable(tf.zeros([2, 2]), true, 'diag-emp/w');
    const g1 = tf.tensor2d([1, -2, 0.5, 3], [2, 2]);
    const g2 = tf.tensor2d([-1, 1, 2, 0], [2, 2]);
    const decay = 0.9;
    for (const power of [1, 0.5]) {
      const est = diagonal({ mode: 'empirical', decay, power });
      expect(est.requires).toEqual({ captures: false, fisher: 'empirical' });
      est.init([], { 'diag-emp/w': v });
      leakCheck(() => {
        est.updateStatistics({ captures: {}, grads: { 'diag-emp/w': g1 }, batchSize: 8 });
        est.updateStatistics({ captures: {}, grads: { 'diag-emp/w': g2 }, batchSize: 8 });
      });
      // The inverse cache (one tensor per parameter) is the only thing a refresh keeps; a second
      // refresh replaces it.
      leakCheck(() => est.refreshInverses(0.2), 1);
      leakCheck(() => est.refreshInverses(0.1));
      const a = g1.dataSync();
      const b = g2.dataSync();
      const d = Array.from(a, (x, i) => (decay * (1 - decay) * x * x + (1 - decay) * b[i] * b[i]) / (1 - decay * decay));
      const dp = d.map((x) => x ** power);
      const pre = leakCheck(() => est.precondition({ 'diag-emp/w': g1, other: g2 }), 1);
      expect(Object.keys(pre)).toEqual(['diag-emp/w']);
      expect(relError(pre['diag-emp/w'].dataSync(), Array.from(a, (x, i) => x / (dp[i] + 0.1)))).toBeLessThan(1e-6);
      const fv = leakCheck(() => est.multiply({ 'diag-emp/w': g2 }), 1);
      expect(relError(fv['diag-emp/w'].dataSync(), Array.from(b, (x, i) => x * dp[i]))).toBeLessThan(1e-6);
      tf.dispose([pre['diag-emp/w'], fv['diag-emp/w']]);
      est.dispose();
    }
    tf.dispose([v, g1, g2]);
  });

  it('state round trip restores statistics and recomputes inverses; KL clip scales directions', () => {
    const p = denseProblem(24, 4, 3, 2);
    const vars = { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! };
    const est = diagonal({ klClip: 1e-6 });
    est.init([p.layer], vars);
    est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 4 });
    est.refreshInverses(0.01);
    const grads = { [p.layer.kernel]: tf.onesLike(p.kernel), [p.layer.bias!]: tf.onesLike(p.bias!) };
    const expected = est.precondition(grads);
    const state = est.getState();
    const restored = diagonal({ klClip: 1e-6, decay: 0.5 });
    restored.init([p.layer], vars);
    leakCheck(() => restored.setState(state), 2); // the recomputed inverse cache of kernel and bias
    leakCheck(() => restored.setState(state));
    const got = restored.precondition(grads);
    for (const k of Object.keys(expected)) expect(relError(got[k].dataSync(), expected[k].dataSync())).toBeLessThan(1e-6);
    expect(restored.memory().inverses).toBe(4 * (6 + 2));
    // KL clip: nu = min(1, sqrt(klClip / (lr^2 <d, g>))); the map entries are replaced by nu * d.
    const before = Array.from(got[p.layer.kernel].dataSync());
    const vg = [...got[p.layer.kernel].dataSync(), ...got[p.layer.bias!].dataSync()].reduce((s, x) => s + x, 0) * 0.01;
    const nu = leakCheck(() => restored.scaleUpdate(got, grads, 0.1));
    expect(nu).toBeCloseTo(Math.min(1, Math.sqrt(1e-6 / Math.abs(vg))), 6);
    expect(nu).toBeLessThan(1);
    expect(relError(got[p.layer.kernel].dataSync(), before.map((x) => x * nu))).toBeLessThan(1e-6);
    tf.dispose([...Object.values(expected), ...Object.values(got), ...Object.values(grads), ...Object.values(state.tensors)]);
    est.dispose();
    restored.dispose();
    p.dispose();
  });

  it('rejects bad options and inputs with NatgradError', () => {
    expect(() => diagonal({ mode: 'adam' as 'fisher' })).toThrow(NatgradError);
    expect(() => diagonal({ mode: 'empirical', fisher: 'sampled' })).toThrow(/cannot use sampled labels/);
    expect(() => diagonal({ power: 2 })).toThrow(/power/);
    expect(() => diagonal({ decay: 1 })).toThrow(/decay/);
    const p = denseProblem(25, 2, 2, 2);
    const est = diagonal();
    expect(() => est.precondition({})).toThrow(/before init/);
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    expect(() => est.multiply({})).toThrow(/before any updateStatistics/);
    expect(() => est.updateStatistics({ captures: {}, grads: {}, batchSize: 2 })).toThrow(/no capture/);
    expect(() => est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 3 })).toThrow(/row count/);
    est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 2 });
    expect(() => est.precondition({})).toThrow(/before refreshInverses/);
    expect(() => est.refreshInverses(0)).toThrow(/damping/);
    est.refreshInverses(1e-3);
    const wrong = tf.zeros([2, 3]);
    expect(() => est.precondition({ [p.layer.kernel]: wrong })).toThrow(/wrong shape/);
    const state = est.getState();
    const other = diagonal({ mode: 'empirical' });
    other.init([], { x: p.kernel });
    expect(() => other.setState(state)).toThrow(/another mode/);
    expect(() => other.setState({ ...state, kind: 'x' })).toThrow(NatgradError);
    est.dispose();
    expect(() => est.memory()).toThrow(/after dispose/);
    tf.dispose([wrong, ...Object.values(state.tensors)]);
    other.dispose();
    p.dispose();
  });
});
