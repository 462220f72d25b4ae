import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { convProblem, denseProblem, randomArray, relError, rng } from '../testing/brute-force';
import { onDefaultLimitWebgpu } from '../../../../test/webgpu-limits';
import { diagonal } from './estimator';
import { fisherDiagonal } from './per-example';

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

/** Runs fn (awaited) and checks it left `returned` more tensors than before. */
async function leakCheck<T>(fn: () => T | Promise<T>, returned = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const r = await fn();
  expect(tf.memory().numTensors).toBe(before + returned);
  return r;
}

/** The values of several tensors, concatenated, in one read. */
async function values(...tensors: tf.Tensor[]): Promise<number[]> {
  const packed = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))));
  try {
    return Array.from(await packed.data());
  } finally {
    packed.dispose();
  }
}

describe('diagonal', () => {
  it("'fisher' on Dense equals the brute-force mean of squared per-example gradients", async () => {
    const p = await denseProblem(21, 6, 3, 4);
    const est = diagonal();
    expect(est.requires).toEqual({ captures: true, fisher: 'sampled' });
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    expect(est.blocks.map((b) => b.name)).toEqual([p.layer.kernel, p.layer.bias]);
    await leakCheck(() => est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 6 }));
    const k = est.statistic(p.layer.kernel);
    const b = est.statistic(p.layer.bias!);
    expect(relError(await values(k, b), meanSquares(p.perExampleGrads))).toBeLessThan(1e-5);
    tf.dispose([k, b]);
    est.dispose();
    p.dispose();
  });

  for (const geometry of [
    { strides: [2, 2], dilation: [1, 1], padding: 'same' },
    { strides: [1, 1], dilation: [2, 2], padding: 'valid' },
  ] as const) {
    it(`'fisher' on Conv2D (${geometry.padding}, stride ${geometry.strides[0]}, dilation ${geometry.dilation[0]}) equals per-example squared gradients through the conv`, async () => {
      const p = await convProblem(22, { n: 3, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], strides: [...geometry.strides], dilation: [...geometry.dilation], padding: geometry.padding });
      const est = diagonal({ fisher: 'empirical' });
      est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
      await leakCheck(() => est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 3 }));
      const k = est.statistic(p.layer.kernel);
      const b = est.statistic(p.layer.bias!);
      expect(k.shape).toEqual([3, 3, 2, 3]);
      expect(relError(await values(k, b), meanSquares(p.perExampleGrads))).toBeLessThan(1e-5);
      tf.dispose([k, b]);
      est.dispose();
      p.dispose();
    });
  }

  it('Conv2D per-example sums over 8 and more chunks of examples are correct (beyond one WebGPU addN)', async () => {
    // One example per chunk and 9 examples: 9 partial sums, more than the 7 inputs one addN may
    // take on WebGPU (8 storage buffers per shader stage), where tf.addN returned garbage. Run
    // again on a WebGPU device that keeps that default limit (CI's software GPU allows 16).
    const check = async () => {
      const n = 9;
      const p = await convProblem(26, { n, size: [3, 3], cin: 1, cout: 2, kernel: [2, 2], strides: [1, 1], dilation: [1, 1], padding: 'valid' });
      const perChunk = 4 * 2; // P x out floats of one example's kernel gradient
      const d = await leakCheck(() => fisherDiagonal(p.layer, p.capture, n, perChunk), 2);
      const whole = fisherDiagonal(p.layer, p.capture, n);
      const expected = meanSquares(p.perExampleGrads);
      expect(relError(await values(d.kernel, d.bias!), expected)).toBeLessThan(1e-5);
      // Chunking changes only the order of the additions.
      expect(relError(await values(d.kernel), await values(whole.kernel))).toBeLessThan(1e-6);
      tf.dispose([d.kernel, d.bias!, whole.kernel, whole.bias!]);
      p.dispose();
    };
    await check();
    await onDefaultLimitWebgpu(check);
  });

  it("'fisher' on Dense with flattened leading dims sums each example's rows before squaring", async () => {
    const n = 2;
    const t = 3;
    const p = await denseProblem(23, n * t, 2, 2);
    const est = diagonal();
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    await est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: n });
    const x = (await p.x.array()) as number[][];
    const og = (await p.capture.outputGrad.array()) as number[][];
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
    expect(relError(await values(k, b), meanSquares(perExample))).toBeLessThan(1e-5);
    tf.dispose([k, b]);
    est.dispose();
    p.dispose();
  });

  it("'empirical': debiased EMA of squared mean gradients; precondition g/(D+lambda); multiply D v; power 0.5", async () => {
    const v = tf.variable(tf.zeros([2, 2]), true, 'diag-emp/w');
    const a = [1, -2, 0.5, 3];
    const b = [-1, 1, 2, 0];
    const g1 = tf.tensor2d(a, [2, 2]);
    const g2 = tf.tensor2d(b, [2, 2]);
    const decay = 0.9;
    for (const power of [1, 0.5]) {
      const est = diagonal({ mode: 'empirical', decay, power });
      expect(est.requires).toEqual({ captures: false, fisher: 'empirical' });
      est.init([], { 'diag-emp/w': v });
      await leakCheck(async () => {
        await est.updateStatistics({ captures: {}, grads: { 'diag-emp/w': g1 }, batchSize: 8 });
        await est.updateStatistics({ captures: {}, grads: { 'diag-emp/w': g2 }, batchSize: 8 });
      });
      // The inverse cache (one tensor per parameter) is the only thing a refresh keeps; a second
      // refresh replaces it.
      await leakCheck(() => est.refreshInverses(0.2), 1);
      await leakCheck(() => est.refreshInverses(0.1));
      const d = a.map((x, i) => (decay * (1 - decay) * x * x + (1 - decay) * b[i] * b[i]) / (1 - decay * decay));
      const dp = d.map((x) => x ** power);
      const pre = await leakCheck(() => est.precondition({ 'diag-emp/w': g1, other: g2 }), 1);
      expect(Object.keys(pre)).toEqual(['diag-emp/w']);
      expect(relError(await values(pre['diag-emp/w']), a.map((x, i) => x / (dp[i] + 0.1)))).toBeLessThan(1e-6);
      const fv = await leakCheck(() => est.multiply({ 'diag-emp/w': g2 }), 1);
      expect(relError(await values(fv['diag-emp/w']), b.map((x, i) => x * dp[i]))).toBeLessThan(1e-6);
      tf.dispose([pre['diag-emp/w'], fv['diag-emp/w']]);
      est.dispose();
    }
    tf.dispose([v, g1, g2]);
  });

  it('state round trip restores statistics and recomputes inverses; KL clip scales directions', async () => {
    const p = await denseProblem(24, 4, 3, 2);
    const vars = { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! };
    const est = diagonal({ klClip: 1e-6 });
    est.init([p.layer], vars);
    await est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 4 });
    await est.refreshInverses(0.01);
    const grads = { [p.layer.kernel]: tf.onesLike(p.kernel), [p.layer.bias!]: tf.onesLike(p.bias!) };
    const expected = est.precondition(grads);
    const state = est.getState();
    const restored = diagonal({ klClip: 1e-6, decay: 0.5 });
    restored.init([p.layer], vars);
    await leakCheck(() => restored.setState(state), 2); // the recomputed inverse cache of kernel and bias
    await leakCheck(() => restored.setState(state));
    expect(restored.pendingRefresh).toBeNull();
    const got = restored.precondition(grads);
    for (const k of Object.keys(expected)) expect(relError(await values(got[k]), await values(expected[k]))).toBeLessThan(1e-6);
    expect(restored.memory().inverses).toBe(4 * (6 + 2));
    // KL clip: nu = min(1, sqrt(klClip / (lr^2 <d, g>))); the map entries are replaced by nu * d.
    const before = await values(got[p.layer.kernel]);
    const vg = (await values(got[p.layer.kernel], got[p.layer.bias!])).reduce((s, x) => s + x, 0) * 0.01;
    const nu = await leakCheck(() => restored.scaleUpdate(got, grads, 0.1));
    expect(nu).toBeCloseTo(Math.min(1, Math.sqrt(1e-6 / Math.abs(vg))), 6);
    expect(nu).toBeLessThan(1);
    expect(relError(await values(got[p.layer.kernel]), before.map((x) => x * nu))).toBeLessThan(1e-6);
    tf.dispose([...Object.values(expected), ...Object.values(got), ...Object.values(grads), ...Object.values(state.tensors)]);
    est.dispose();
    restored.dispose();
    p.dispose();
  });

  it('KL clipping sums <d, g> over 8 and more parameter tensors correctly (beyond one WebGPU addN)', async () => {
    // Nine parameters: more than the 7 inputs one addN may take on WebGPU, where it returned
    // garbage. Run again on a WebGPU device that keeps the default limit of 8 storage buffers.
    const check = async (tag: string) => {
      const r = rng(27);
      const names = Array.from({ length: 9 }, (_, i) => `diag-many-${tag}/p${i}`);
      const vars = Object.fromEntries(names.map((n) => [n, tf.variable(tf.zeros([3]), true, n)]));
      const est = diagonal({ mode: 'empirical', klClip: 1e-6 });
      est.init([], vars);
      const dv = names.map(() => Array.from(randomArray(3, r)));
      const gv = names.map(() => Array.from(randomArray(3, r)));
      const directions: ParamMap = Object.fromEntries(names.map((n, i) => [n, tf.tensor1d(dv[i])]));
      const grads: ParamMap = Object.fromEntries(names.map((n, i) => [n, tf.tensor1d(gv[i])]));
      const vg = dv.flat().reduce((s, x, k) => s + x * gv.flat()[k], 0) * 0.1 * 0.1;
      const expected = Math.min(1, Math.sqrt(1e-6 / Math.abs(vg)));
      expect(expected).toBeLessThan(1);
      const nu = await leakCheck(() => est.scaleUpdate(directions, grads, 0.1));
      // float32 sums of 27 products of numbers below 1: far inside 1e-5 relative.
      expect(Math.abs(nu - expected) / expected).toBeLessThan(1e-5);
      expect(relError(await values(...names.map((n) => directions[n])), dv.flat().map((x) => x * nu))).toBeLessThan(1e-6);
      tf.dispose([...Object.values(directions), ...Object.values(grads), ...Object.values(vars)]);
      est.dispose();
    };
    await check('active');
    await onDefaultLimitWebgpu(() => check('default-limits'));
  });

  it('rejects bad options and inputs with NatgradError', async () => {
    expect(() => diagonal({ mode: 'adam' as 'fisher' })).toThrow(NatgradError);
    expect(() => diagonal({ mode: 'empirical', fisher: 'sampled' })).toThrow(/cannot use sampled labels/);
    expect(() => diagonal({ power: 2 })).toThrow(/power/);
    expect(() => diagonal({ decay: 1 })).toThrow(/decay/);
    const p = await denseProblem(25, 2, 2, 2);
    const est = diagonal();
    expect(() => est.precondition({})).toThrow(/before init/);
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    expect(() => est.multiply({})).toThrow(/before any updateStatistics/);
    await expect(est.updateStatistics({ captures: {}, grads: {}, batchSize: 2 })).rejects.toThrow(/no capture/);
    await expect(est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 3 })).rejects.toThrow(/row count/);
    await est.updateStatistics({ captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 2 });
    expect(() => est.precondition({})).toThrow(/before refreshInverses/);
    await expect(est.refreshInverses(0)).rejects.toThrow(/damping/);
    await est.refreshInverses(1e-3);
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

  it('non-finite statistics are reported at refreshInverses and leave the cache as it was', async () => {
    const v = tf.variable(tf.zeros([2]), true, 'diag-nan/w');
    const est = diagonal({ mode: 'empirical' });
    est.init([], { 'diag-nan/w': v });
    const good = tf.tensor1d([1, 2]);
    const bad = tf.tensor1d([Number.NaN, 1]);
    await est.updateStatistics({ captures: {}, grads: { 'diag-nan/w': good }, batchSize: 1 });
    await est.refreshInverses(0.1);
    await est.updateStatistics({ captures: {}, grads: { 'diag-nan/w': bad }, batchSize: 1 });
    await leakCheck(() => expect(est.refreshInverses(0.1)).rejects.toThrow(/not finite/));
    const pre = est.precondition({ 'diag-nan/w': good });
    expect(Array.from(await pre['diag-nan/w'].data()).every(Number.isFinite)).toBe(true);
    tf.dispose([v, good, bad, pre['diag-nan/w']]);
    est.dispose();
  });
});
