import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { type LayerInfo, NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConvProblem,
  type DenseProblem,
  addIdentity,
  convProblem,
  denseProblem,
  kron,
  matVec,
  randomArray,
  relError,
  rng,
  secondMoment,
  solve,
  trace,
  withOnes,
} from '../testing/brute-force';
import { diagonal } from '../diagonal/estimator';
import { onDefaultLimitWebgpu } from '../../../../test/webgpu-limits';
import { kfac } from './estimator';

type Problem = DenseProblem | ConvProblem;

/** Runs fn (awaited) and checks it left `returned` more tensors than before. */
async function leakCheck<T>(fn: () => T | Promise<T>, returned = 0): Promise<T> {
  const before = tf.memory().numTensors;
  const r = await fn();
  expect(tf.memory().numTensors).toBe(before + returned);
  return r;
}

/** Brute-force A and G (float64) of a problem, with the scaling documented in factors.ts. */
async function bruteFactors(p: Problem): Promise<{ A: number[][]; G: number[][] }> {
  if ('patches' in p) {
    const n = p.perExampleOutputGrads.length;
    return { A: secondMoment(withOnes(p.patches), p.patches.length), G: secondMoment(p.perExampleOutputGrads.flat(), n) };
  }
  const n = p.perExampleOutputGrads.length;
  const x = (await p.x.array()) as number[][];
  return { A: secondMoment(withOnes(x), n), G: secondMoment(p.perExampleOutputGrads, n) };
}

function variables(p: Problem): Record<string, tf.Variable> {
  return { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! };
}

function batchOf(problems: Problem[], batchSize: number) {
  return { captures: Object.fromEntries(problems.map((p) => [p.layer.name, p.capture])), grads: {}, batchSize };
}

/** A random ParamMap for the block of `layer`, and its vec(W~) (kernel rows then the bias row). */
function randomBlock(layer: LayerInfo, p: Problem, seed: number): { map: ParamMap; vec: number[] } {
  const r = rng(seed);
  const kv = randomArray(p.kernel.size, r);
  const bv = randomArray(p.bias!.size, r);
  const k = tf.tensor(kv, p.kernel.shape);
  const b = tf.tensor(bv, p.bias!.shape);
  return { map: { [layer.kernel]: k, [layer.bias!]: b }, vec: [...kv, ...bv] };
}

/** vec(W~) of a block (kernel entries, then the bias), in one read. */
async function blockVec(map: ParamMap, layer: LayerInfo): Promise<number[]> {
  const packed = tf.tidy(() => tf.concat([tf.reshape(map[layer.kernel], [-1]), tf.reshape(map[layer.bias!], [-1])]));
  try {
    return Array.from(await packed.data());
  } finally {
    packed.dispose();
  }
}

function disposeMap(map: ParamMap): void {
  tf.dispose(Object.values(map));
}

const problems: Problem[] = [];

describe('kfac', () => {
  beforeAll(async () => {
    problems.push(
      await denseProblem(31, 5, 3, 2),
      await convProblem(32, { n: 5, size: [4, 4], cin: 1, cout: 2, kernel: [2, 2], strides: [2, 2], dilation: [1, 1], padding: 'same' }),
    );
  });
  afterAll(() => {
    for (const p of problems) p.dispose();
  });

  for (const mode of ['pi', 'eigen'] as const) {
    it(`precondition (${mode}) equals a dense solve with the explicit damped Kronecker matrix; multiply equals (A (x) G) v`, async () => {
      const lambda = 0.05;
      const est = kfac({ damping: mode, decay: 0.9 });
      expect(est.requires).toEqual({ captures: true, fisher: 'sampled' });
      const [dense, conv] = problems;
      est.init([dense.layer, conv.layer], { ...variables(dense), ...variables(conv) });
      expect(est.blocks).toEqual([
        { name: dense.layer.name, params: [dense.layer.kernel, dense.layer.bias] },
        { name: conv.layer.name, params: [conv.layer.kernel, conv.layer.bias] },
      ]);
      await leakCheck(() => est.updateStatistics(batchOf([dense, conv], 5)));
      await leakCheck(() => est.refreshInverses(lambda), mode === 'pi' ? 4 : 6);
      await leakCheck(() => est.refreshInverses(lambda));
      for (const [i, p] of [dense, conv].entries()) {
        const { A, G } = await bruteFactors(p);
        let M: number[][];
        if (mode === 'pi') {
          const pi = Math.sqrt(trace(A) / A.length / (trace(G) / G.length));
          M = kron(addIdentity(A, Math.sqrt(lambda) * pi), addIdentity(G, Math.sqrt(lambda) / pi));
        } else {
          M = addIdentity(kron(A, G), lambda);
        }
        const { map, vec } = randomBlock(p.layer, p, 40 + i);
        const pre = await leakCheck(() => est.precondition(map), 2);
        expect(pre[p.layer.kernel].shape).toEqual(p.kernel.shape);
        expect(relError(await blockVec(pre, p.layer), solve(M, vec))).toBeLessThan(2e-4);
        const fv = await leakCheck(() => est.multiply(map), 2);
        expect(relError(await blockVec(fv, p.layer), matVec(kron(A, G), vec))).toBeLessThan(1e-5);
        disposeMap(map);
        disposeMap(pre);
        disposeMap(fv);
      }
      est.dispose();
    });
  }

  it('a block without bias (kernel only) preconditions with A = E[a a^T] (no ones column)', async () => {
    const p = await denseProblem(35, 4, 3, 2, false);
    const est = kfac();
    est.init([p.layer], { [p.layer.kernel]: p.kernel });
    expect(est.blocks).toEqual([{ name: p.layer.name, params: [p.layer.kernel] }]);
    await est.updateStatistics(batchOf([p], 4));
    await est.refreshInverses(0.1);
    const A = secondMoment((await p.x.array()) as number[][], 4);
    const G = secondMoment(p.perExampleOutputGrads, 4);
    const pi = Math.sqrt(trace(A) / 3 / (trace(G) / 2));
    const M = kron(addIdentity(A, Math.sqrt(0.1) * pi), addIdentity(G, Math.sqrt(0.1) / pi));
    const vData = randomArray(6, rng(36));
    const v = tf.tensor2d(vData, [3, 2]);
    const pre = await leakCheck(() => est.precondition({ [p.layer.kernel]: v }), 1);
    expect(relError(await pre[p.layer.kernel].data(), solve(M, Array.from(vData)))).toBeLessThan(2e-4);
    tf.dispose([v, pre[p.layer.kernel]]);
    est.dispose();
    p.dispose();
  });

  it('EMA with zero init is debiased: factors after two batches are their exact weighted mean', async () => {
    const p1 = problems[0] as DenseProblem;
    const p2 = await denseProblem(33, 5, 3, 2);
    const decay = 0.8;
    const est = kfac({ decay });
    est.init([p1.layer], variables(p1));
    await est.updateStatistics(batchOf([p1], 5));
    const first = await leakCheck(() => est.factors(p1.layer.name), 2);
    const f1 = await bruteFactors(p1);
    expect(relError(await first.a.data(), f1.A.flat())).toBeLessThan(1e-6);
    await est.updateStatistics({ captures: { [p1.layer.name]: p2.capture }, grads: {}, batchSize: 5 });
    const second = est.factors(p1.layer.name);
    const f2 = await bruteFactors(p2);
    const w1 = (decay * (1 - decay)) / (1 - decay * decay);
    const w2 = (1 - decay) / (1 - decay * decay);
    expect(relError(await second.a.data(), f1.A.flat().map((x, i) => w1 * x + w2 * f2.A.flat()[i]))).toBeLessThan(1e-6);
    expect(relError(await second.g.data(), f1.G.flat().map((x, i) => w1 * x + w2 * f2.G.flat()[i]))).toBeLessThan(1e-5);
    expect(est.statisticsSteps).toBe(2);
    tf.dispose([first.a, first.g, second.a, second.g]);
    est.dispose();
    p2.dispose();
  });

  it('getState / setState round trip (inverse cache saved, other decay rescaled); memory report', async () => {
    const [dense, conv] = problems;
    const vars = { ...variables(dense), ...variables(conv) };
    const est = kfac({ damping: 'eigen' });
    est.init([dense.layer, conv.layer], vars);
    await est.updateStatistics(batchOf([dense, conv], 5));
    await est.refreshInverses(0.01);
    const { map } = randomBlock(dense.layer, dense, 50);
    const expected = est.precondition(map);
    // Factors A, G of both layers plus the eigen cache (Q_A, Q_G, 1/(d_A d_G^T + l)) of both.
    const state = await leakCheck(() => est.getState(), 10);
    const restored = kfac({ damping: 'eigen', decay: 0.5 });
    restored.init([dense.layer, conv.layer], vars);
    restored.setState(state);
    expect(restored.statisticsSteps).toBe(1);
    expect(restored.pendingRefresh).toBeNull();
    const got = restored.precondition(map);
    expect(relError(await blockVec(got, dense.layer), await blockVec(expected, dense.layer))).toBeLessThan(1e-5);
    await leakCheck(() => restored.setState(state));
    // Memory: statistics A (4x4 dense, 5x5 conv) and G (2x2 both); eigen caches Q_A, Q_G and 1/(dA dG^T + l).
    const m = restored.memory();
    expect(m.statistics).toBe(4 * (16 + 4 + 25 + 4));
    expect(m.inverses).toBe(4 * (16 + 4 + 4 * 2 + 25 + 4 + 5 * 2));
    expect(m.perBlock[dense.layer.name]).toBe(4 * (16 + 4 + 16 + 4 + 8));
    expect(m.total).toBe(m.statistics + m.inverses);
    // A state for other layers is refused.
    const other = kfac();
    other.init([dense.layer], variables(dense));
    expect(() => other.setState(state)).toThrow(/other layers/);
    tf.dispose(Object.values(state.tensors));
    disposeMap(map);
    disposeMap(expected);
    disposeMap(got);
    for (const e of [est, restored, other]) e.dispose();
  });

  it('a state saved between inverse refreshes restores the cache of the last refresh, bit for bit', async () => {
    const [dense, conv] = problems;
    const vars = { ...variables(dense), ...variables(conv) };
    for (const mode of ['pi', 'eigen'] as const) {
      const est = kfac({ damping: mode });
      est.init([dense.layer, conv.layer], vars);
      await est.updateStatistics(batchOf([dense, conv], 5));
      await est.refreshInverses(0.01);
      // Statistics move on after the refresh (inputs doubled): the cache no longer matches them.
      const doubled = Object.fromEntries(
        [dense, conv].map((p) => [p.layer.name, { input: tf.mul(p.capture.input, 2), outputGrad: p.capture.outputGrad }]),
      );
      await est.updateStatistics({ captures: doubled, grads: {}, batchSize: 5 });
      tf.dispose(Object.values(doubled).map((c) => c.input));
      const { map } = randomBlock(dense.layer, dense, 51);
      const expected = est.precondition(map);
      const state = est.getState();
      const restored = kfac({ damping: mode });
      restored.init([dense.layer, conv.layer], vars);
      // The restored cache is all the estimator keeps: 2 tensors per layer for pi, 3 for eigen.
      const cacheSize = (m: 'pi' | 'eigen') => (m === 'pi' ? 4 : 6);
      await leakCheck(() => restored.setState(state), cacheSize(mode));
      const got = restored.precondition(map);
      for (const key of Object.keys(expected)) {
        expect(Array.from(await got[key].data())).toEqual(Array.from(await expected[key].data()));
      }
      // A state saved in the other damping mode carries no usable cache: setState (synchronous)
      // restores the statistics and leaves the rebuild at the saved damping to refreshInverses.
      const other = kfac({ damping: mode === 'pi' ? 'eigen' : 'pi' });
      other.init([dense.layer, conv.layer], vars);
      await leakCheck(() => other.setState(state));
      expect(other.pendingRefresh).toBe(0.01);
      expect(() => other.precondition(map)).toThrow(/must be rebuilt/);
      // Saved while pending, the state still says at which damping to rebuild.
      const pendingState = other.getState();
      expect(pendingState.values.damping).toBe(0.01);
      tf.dispose(Object.values(pendingState.tensors));
      await leakCheck(() => other.refreshInverses(other.pendingRefresh as number), cacheSize(mode === 'pi' ? 'eigen' : 'pi'));
      expect(other.pendingRefresh).toBeNull();
      const recomputed = other.precondition(map);
      expect(Object.keys(recomputed).sort()).toEqual(Object.keys(expected).sort());
      // ... which differs from the saved cache, so the bit-identical check above could fail.
      expect(relError(await blockVec(recomputed, dense.layer), await blockVec(expected, dense.layer))).toBeGreaterThan(1e-3);
      // A corrupt cache entry is refused and nothing leaks.
      const broken = { ...state, values: { ...state.values, inverses: [null] } };
      const before = tf.memory().numTensors;
      expect(() => restored.setState(broken)).toThrow(/inconsistent inverse cache/);
      expect(tf.memory().numTensors).toBe(before);
      tf.dispose(Object.values(state.tensors));
      for (const m of [map, expected, got, recomputed]) disposeMap(m);
      for (const e of [est, restored, other]) e.dispose();
    }
  });

  it('KL clipping scales the directions by min(1, sqrt(c / (lr^2 <d, g>)))', async () => {
    const p = problems[0] as DenseProblem;
    const est = kfac({ klClip: 1e-4 });
    est.init([p.layer], variables(p));
    await est.updateStatistics(batchOf([p], 5));
    await est.refreshInverses(1e-3);
    const { map, vec } = randomBlock(p.layer, p, 60);
    const d = est.precondition(map);
    const dv = await blockVec(d, p.layer);
    const vg = dv.reduce((s, x, i) => s + x * vec[i], 0) * 0.5 * 0.5;
    const nu = await leakCheck(() => est.scaleUpdate(d, map, 0.5));
    expect(nu).toBeCloseTo(Math.min(1, Math.sqrt(1e-4 / Math.abs(vg))), 6);
    expect(relError(await blockVec(d, p.layer), dv.map((x) => x * nu))).toBeLessThan(1e-6);
    const off = kfac();
    off.init([p.layer], variables(p));
    expect(await off.scaleUpdate(d, map, 0.5)).toBe(1);
    disposeMap(map);
    disposeMap(d);
    est.dispose();
    off.dispose();
  });

  it('KL clipping sums <d, g> over 8 and more parameter tensors correctly (beyond one WebGPU addN)', async () => {
    // Five Dense layers with bias: ten covered tensors, more than the 7 inputs one addN may take on
    // WebGPU (8 storage buffers per shader stage), where tf.addN returned garbage. Run again on a
    // WebGPU device that keeps that default limit (CI's software GPU allows 16).
    const check = async () => {
      const layers = await Promise.all([0, 1, 2, 3, 4].map((i) => denseProblem(70 + i, 4, 2, 2)));
      const est = kfac({ klClip: 1e-6 });
      est.init(
        layers.map((p) => p.layer),
        Object.assign({}, ...layers.map(variables)),
      );
      const directions: ParamMap = {};
      const grads: ParamMap = {};
      let vg = 0;
      const before: number[][] = [];
      layers.forEach((p, i) => {
        const d = randomBlock(p.layer, p, 80 + i);
        const g = randomBlock(p.layer, p, 90 + i);
        Object.assign(directions, d.map);
        Object.assign(grads, g.map);
        vg += d.vec.reduce((s, x, k) => s + x * g.vec[k], 0) * 0.1 * 0.1;
        before.push(d.vec);
      });
      expect(Object.keys(directions)).toHaveLength(10);
      const nu = await leakCheck(() => est.scaleUpdate(directions, grads, 0.1));
      const expected = Math.min(1, Math.sqrt(1e-6 / Math.abs(vg)));
      expect(expected).toBeLessThan(1);
      // float32 sums of 4 products per tensor and 10 partial sums: far inside 1e-5 relative.
      expect(Math.abs(nu - expected) / expected).toBeLessThan(1e-5);
      for (const [i, p] of layers.entries()) {
        expect(relError(await blockVec(directions, p.layer), before[i].map((x) => x * nu))).toBeLessThan(1e-6);
      }
      tf.dispose([...Object.values(directions), ...Object.values(grads)]);
      est.dispose();
      for (const p of layers) p.dispose();
    };
    await check();
    await onDefaultLimitWebgpu(check);
  });

  for (const geometry of [
    { strides: [2, 2], dilation: [1, 1], padding: 'same' },
    { strides: [1, 1], dilation: [2, 2], padding: 'valid' },
  ] as const)
  it(`gives the same results on the cpu, wasm (and the tested) backends from the same capture data (stride ${geometry.strides[0]}, dilation ${geometry.dilation[0]})`, async () => {
    // About backends, so it picks them itself: cpu, wasm, and the one the test file runs on
    // (webgpu on CI's GPU tier), which it restores at the end.
    const original = tf.getBackend();
    const backends = [...new Set(['cpu', 'wasm', original])];
    const p = await convProblem(34, { n: 3, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], ...geometry, strides: [...geometry.strides], dilation: [...geometry.dilation] });
    const data = {
      input: await p.capture.input.array(),
      outputGrad: await p.capture.outputGrad.array(),
      kernel: await p.kernel.array(),
      bias: await p.bias!.array(),
    };
    p.dispose();
    const results: Record<string, number[][]> = {};
    for (const backend of backends) {
      // setBackend answers false (it does not throw) when a backend fails to start: without this the
      // comparison would silently run on the previous backend and compare it with itself.
      expect(await tf.setBackend(backend), `the '${backend}' backend failed to start`).toBe(true);
      expect(tf.getBackend()).toBe(backend);
      const tag = `${backend}-${geometry.strides[0]}`;
      const kernel = tf.variable(tf.tensor(data.kernel), false, `${tag}-k`);
      const bias = tf.variable(tf.tensor(data.bias), false, `${tag}-b`);
      const layer = { ...p.layer, kernel: `${tag}-k`, bias: `${tag}-b` };
      const input = tf.tensor(data.input);
      const outputGrad = tf.tensor(data.outputGrad);
      const out: number[][] = [];
      for (const mode of ['pi', 'eigen'] as const) {
        const est = kfac({ damping: mode });
        est.init([layer], { [layer.kernel]: kernel, [layer.bias]: bias });
        const before = tf.memory().numTensors;
        await est.updateStatistics({ captures: { [layer.name]: { input, outputGrad } }, grads: {}, batchSize: 3 });
        await est.refreshInverses(0.01);
        const pre = est.precondition({ [layer.kernel]: kernel, [layer.bias]: bias });
        const fv = est.multiply({ [layer.kernel]: kernel, [layer.bias]: bias });
        out.push([...(await blockVec(pre, layer)), ...(await blockVec(fv, layer))]);
        tf.dispose([...Object.values(pre), ...Object.values(fv)]);
        est.dispose();
        expect(tf.memory().numTensors).toBe(before - 2); // only the estimator's own factors are gone
      }
      const diag = diagonal();
      diag.init([layer], { [layer.kernel]: kernel, [layer.bias]: bias });
      await diag.updateStatistics({ captures: { [layer.name]: { input, outputGrad } }, grads: {}, batchSize: 3 });
      const d = diag.statistic(layer.kernel);
      out.push(Array.from(await d.data()));
      d.dispose();
      diag.dispose();
      results[backend] = out;
      tf.dispose([kernel, bias, input, outputGrad]);
    }
    expect(await tf.setBackend(original), `the '${original}' backend failed to restart`).toBe(true);
    // float32 backends against cpu: the same 1e-4 as wasm has always met (pi and eigen inverses at
    // damping 0.01 of 19x19 and 3x3 factors, and the diagonal statistic).
    for (const backend of backends.filter((b) => b !== 'cpu')) {
      for (let m = 0; m < 3; m++) expect(relError(results[backend][m], results.cpu[m]), `${backend} result ${m}`).toBeLessThan(1e-4);
    }
  });

  it('rejects bad options, layers, captures and parameter maps with NatgradError', async () => {
    const [dense, conv] = problems as [DenseProblem, ConvProblem];
    expect(() => kfac({ damping: 'tikhonov' as 'pi' })).toThrow(NatgradError);
    expect(() => kfac({ fisher: 'true' as 'sampled' })).toThrow(/Fisher type/);
    expect(() => kfac({ klClip: -1 })).toThrow(/klClip/);
    expect(() => kfac({ inverseMethod: 'lu' as 'host' })).toThrow(/inverseMethod/);
    const est = kfac();
    await expect(est.updateStatistics(batchOf([dense], 5))).rejects.toThrow(/before init/);
    expect(() => est.init([], {})).toThrow(/no layers/);
    expect(() => est.init([{ ...dense.layer, kind: 'lstm' } as unknown as LayerInfo], variables(dense))).toThrow(/unsupported kind/);
    expect(() => est.init([{ ...conv.layer, outputSize: [9, 9] }], variables(conv))).toThrow(/outputSize/);
    expect(() => est.init([dense.layer], {})).toThrow(/missing/);
    expect(() => est.init([{ ...dense.layer, inputSize: 4 }], variables(dense))).toThrow(/does not match/);
    est.init([dense.layer, conv.layer], { ...variables(dense), ...variables(conv) });
    await expect(est.refreshInverses(1e-3)).rejects.toThrow(/before any updateStatistics/);
    await expect(est.updateStatistics(batchOf([dense], 5))).rejects.toThrow(/no capture for layer/);
    await expect(est.updateStatistics({ captures: { [dense.layer.name]: dense.capture, [conv.layer.name]: dense.capture }, grads: {}, batchSize: 5 })).rejects.toThrow(/wrong input/);
    await expect(est.updateStatistics({ ...batchOf([dense, conv], 2.5) })).rejects.toThrow(/batchSize/);
    expect(est.statisticsSteps).toBe(0); // nothing was folded in by the failed calls
    await est.updateStatistics(batchOf([dense, conv], 5));
    expect(() => est.precondition(variables(dense))).toThrow(/before refreshInverses/);
    await expect(est.refreshInverses(Number.NaN)).rejects.toThrow(/damping/);
    await est.refreshInverses(1e-3);
    expect(() => est.precondition({ [dense.layer.kernel]: dense.kernel })).toThrow(/incomplete/);
    expect(() => est.multiply({ [dense.layer.kernel]: dense.bias!, [dense.layer.bias!]: dense.bias! })).toThrow(/wrong shape/);
    expect(await leakCheck(() => est.precondition({ unrelated: dense.kernel }))).toEqual({});
    expect(() => est.setState({ kind: 'natgrad/curvature/diagonal', version: 1, values: {}, tensors: {} })).toThrow(/another component/);
    est.dispose();
    expect(() => est.precondition({})).toThrow(/after dispose/);
  });

  it('non-finite statistics are reported at refreshInverses, not silently inverted', async () => {
    const p = problems[0] as DenseProblem;
    const est = kfac();
    est.init([p.layer], variables(p));
    const bad = tf.tidy(() => tf.mul(p.capture.input, Number.NaN));
    await est.updateStatistics({ captures: { [p.layer.name]: { input: bad, outputGrad: p.capture.outputGrad } }, grads: {}, batchSize: 5 });
    const before = tf.memory().numTensors;
    await expect(est.refreshInverses(1e-3)).rejects.toThrow(/not finite/);
    expect(tf.memory().numTensors).toBe(before);
    bad.dispose();
    est.dispose();
  });

  it('a failed eigendecomposition leaks nothing and keeps the previous cache', async () => {
    const p = problems[0] as DenseProblem;
    // 'native' needs the tfjs-node backend: every eigh of the refresh rejects on the others.
    const est = kfac({ damping: 'eigen', inverseMethod: 'native' });
    est.init([p.layer], variables(p));
    await est.updateStatistics(batchOf([p], 5));
    const before = tf.memory().numTensors;
    await expect(est.refreshInverses(1e-2)).rejects.toThrow(NatgradError);
    expect(tf.memory().numTensors).toBe(before);
    expect(() => est.precondition(variables(p))).toThrow(/before refreshInverses/);
    est.dispose();
  });

  it('a refresh in flight refuses init, setState and a second refresh (CONCURRENT_CALL); dispose() meanwhile leaks nothing', async () => {
    const p = problems[0] as DenseProblem;
    const est = kfac();
    est.init([p.layer], variables(p));
    await est.updateStatistics(batchOf([p], 5));
    const state = est.getState();
    const first = est.refreshInverses(1e-2);
    const codes = async (call: () => unknown) => {
      try {
        await call();
      } catch (err) {
        return (err as NatgradError).code;
      }
      return 'resolved';
    };
    expect(await codes(() => est.refreshInverses(1e-2))).toBe('CONCURRENT_CALL');
    expect(await codes(() => est.setState(state))).toBe('CONCURRENT_CALL');
    expect(await codes(() => est.init([p.layer], variables(p)))).toBe('CONCURRENT_CALL');
    // Statistics may still be folded in: the refresh works on copies of the factors.
    await est.updateStatistics(batchOf([p], 5));
    await first;
    expect(est.statisticsSteps).toBe(2);
    tf.dispose(Object.values(state.tensors));
    // Disposed while a refresh runs: the refresh releases its new cache and rejects with DISPOSED.
    const before = tf.memory().numTensors;
    const second = est.refreshInverses(1e-2);
    est.dispose();
    expect(await codes(() => second)).toBe('DISPOSED');
    // The estimator's factors (2) and its previous cache (2) are gone, nothing else.
    expect(tf.memory().numTensors).toBe(before - 4);
  });
});
