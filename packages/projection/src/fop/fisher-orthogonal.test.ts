import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { identity } from '../identity';
import { fisherOrthogonal as fromRoot } from '../index';
import {
  type Matrix,
  axpy,
  dot,
  matVec,
  randomSpd,
  randomVector,
  scale,
  seededRandom,
} from '../testing/dense-math';
import { type DenseBlockSpec, type DenseView, denseView } from '../testing/dense-view';
import { kroneckerView } from '../testing/kronecker-view';
import { tinyModel } from '../testing/tiny-model';
import { storageBuffersPerStage } from '../../../../test/webgpu-limits';
import { fisherOrthogonal } from './index';

/** FOP steps 2-8 of fop-spec.md in float64 on explicit matrices, without any guard. */
function referenceFop(f: Matrix, inv: Matrix, g1: number[], g2: number[], etaScale = 1, clamp?: [number, number]) {
  const gAvg = scale(0.5, axpy(1, g1, g2));
  const gDiff = axpy(-1, g2, g1);
  const fAvg = matVec(f, gAvg);
  const s = dot(gDiff, fAvg) / dot(gAvg, fAvg);
  const gPerp = axpy(-s, gAvg, gDiff);
  const pPerp = matVec(inv, gPerp);
  const d = dot(gAvg, pPerp);
  const e = dot(gPerp, pPerp);
  let beta = d / e;
  if (clamp) beta = Math.min(Math.max(beta, clamp[0]), clamp[1]);
  const gComb = axpy(beta, gPerp, gAvg);
  const pComb = matVec(inv, gComb);
  const eta = (etaScale * dot(gAvg, pComb)) / dot(gComb, pComb);
  return { s, beta, eta, direction: scale(eta, pComb), gAvg, gPerp, perpRatio: Math.sqrt(dot(gPerp, gPerp) / dot(gAvg, gAvg)) };
}

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Builds a gradient map from a flat vector laid out like the block specs. */
function toMap(specs: readonly DenseBlockSpec[], flat: readonly number[][]): ParamMap {
  const out: ParamMap = {};
  specs.forEach((s, i) => {
    let o = 0;
    for (const p of s.params) {
      out[p.name] = tf.tensor(flat[i].slice(o, o + numel(p.shape)), p.shape);
      o += numel(p.shape);
    }
  });
  return out;
}

async function flatOf(map: ParamMap, spec: DenseBlockSpec): Promise<number[]> {
  const out: number[] = [];
  for (const p of spec.params) out.push(...(await map[p.name].data()));
  return out;
}

function relErr(got: readonly number[], want: readonly number[]): number {
  return Math.sqrt(dot(axpy(-1, want, got), axpy(-1, want, got)) / dot(want, want));
}

const disposeAll = (...maps: ParamMap[]) => {
  for (const m of maps) tf.dispose(Object.values(m));
};

const specs = (rand: () => number): DenseBlockSpec[] => [
  { name: 'conv', params: [{ name: 'conv/kernel', shape: [2, 2, 1, 2] }, { name: 'conv/bias', shape: [2] }], matrix: randomSpd(10, rand) },
  { name: 'dense', params: [{ name: 'dense/kernel', shape: [3, 2] }], matrix: randomSpd(6, rand) },
];

describe('fisherOrthogonal(): closed forms on hand-made vectors', () => {
  const rand = seededRandom(2024);
  const blockSpecs = specs(rand);
  const v1 = blockSpecs.map((s) => randomVector(s.matrix.length, rand));
  const v2 = blockSpecs.map((s) => randomVector(s.matrix.length, rand));
  const free1 = randomVector(3, rand);
  const free2 = randomVector(3, rand);
  let view: DenseView;
  let g1: ParamMap;
  let g2: ParamMap;
  beforeAll(() => {
    view = denseView(blockSpecs, 0.05);
    g1 = { ...toMap(blockSpecs, v1), 'ln/gamma': tf.tensor(free1) };
    g2 = { ...toMap(blockSpecs, v2), 'ln/gamma': tf.tensor(free2) };
  });
  afterAll(() => {
    disposeAll(g1, g2);
    view.dispose();
  });

  it('matches s, beta*, eta*, ||g_perp||/||g_avg|| and the direction of the float64 reference', async () => {
    const before = tf.memory().numTensors;
    const res = await fisherOrthogonal().combine([g1, g2], view);
    for (const [i, spec] of blockSpecs.entries()) {
      const m = view.matrices[spec.name];
      const ref = referenceFop(m.f, m.inv, v1[i], v2[i]);
      const dg = res.diagnostics[spec.name];
      expect(dg.s).toBeCloseTo(ref.s, 4);
      expect(dg.beta! / ref.beta).toBeCloseTo(1, 4);
      expect(dg.eta! / ref.eta).toBeCloseTo(1, 5);
      expect(dg.perpRatio! / ref.perpRatio).toBeCloseTo(1, 5);
      expect(relErr(await flatOf(res.directions, spec), ref.direction)).toBeLessThan(1e-5);
      expect(relErr(await flatOf(res.meanGrads, spec), ref.gAvg)).toBeLessThan(1e-7);
    }
    // The parameter in no block steps with g_avg; it has no diagnostics.
    const avgFree = Array.from(await res.directions['ln/gamma'].data());
    expect(relErr(avgFree, scale(0.5, axpy(1, free1, free2)))).toBeLessThan(1e-7);
    expect(Object.keys(res.diagnostics).sort()).toEqual(['conv', 'dense']);
    disposeAll(res.directions, res.meanGrads);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('makes g_perp = g_diff - s g_avg Fisher-orthogonal to g_avg: <g_avg, F g_perp> = 0', async () => {
    const recording = denseView(blockSpecs, 0.05, { record: true });
    const res = await fisherOrthogonal().combine([g1, g2], recording);
    // The preconditions run on g_avg and g_diff (p_perp = p_diff - s p_avg by linearity).
    const diffCall = (await recording.readLog()).filter((l) => l.op === 'precondition')[1];
    for (const spec of blockSpecs) {
      const f = view.matrices[spec.name].f;
      const gAvg = await flatOf(res.meanGrads, spec);
      const gDiff = axpy(-1, await flatOf(g2, spec), await flatOf(g1, spec));
      const preconditioned = spec.params.flatMap((p) => diffCall.values[p.name]);
      for (let i = 0; i < gDiff.length; i++) expect(preconditioned[i]).toBeCloseTo(gDiff[i], 5);
      const gPerp = axpy(-res.diagnostics[spec.name].s!, gAvg, gDiff);
      const fPerp = matVec(f, gPerp);
      const cosine = dot(gAvg, fPerp) / Math.sqrt(dot(gAvg, matVec(f, gAvg)) * dot(gPerp, fPerp));
      expect(Math.abs(cosine)).toBeLessThan(1e-5);
      // And the raw difference is not orthogonal, so the test can fail.
      expect(Math.abs(dot(gAvg, matVec(f, gDiff)))).toBeGreaterThan(1e-3);
    }
    disposeAll(res.directions, res.meanGrads);
    recording.dispose();
  });

  it('costs one F v product and two preconditioner applications per step', async () => {
    const v = denseView(blockSpecs, 0.05);
    const res = await fisherOrthogonal().combine([g1, g2], v);
    expect(v.calls).toEqual({ multiply: 1, precondition: 2 });
    disposeAll(res.directions, res.meanGrads);
    v.dispose();
  });

  it("keeps eta* in [1/2, 1] under 'mean' and eta*_sum = 2 eta*_mean in [1, 2]", async () => {
    const r = seededRandom(99);
    let seen = 0;
    for (let trial = 0; trial < 25; trial++) {
      const n = 3 + (trial % 5);
      const spec: DenseBlockSpec = { name: 'b', params: [{ name: 'b/w', shape: [n] }], matrix: randomSpd(n, r, trial % 2 === 0 ? 0.01 : 1) };
      const v = denseView([spec], 0.1 * (trial % 3));
      const a = randomVector(n, r);
      // Mix of agreeing, opposing and unrelated halves.
      const b = trial % 3 === 0 ? axpy(0.3, randomVector(n, r), a) : trial % 3 === 1 ? axpy(-1.2, a, randomVector(n, r)) : randomVector(n, r);
      const x1 = { 'b/w': tf.tensor(a) };
      const x2 = { 'b/w': tf.tensor(b) };
      const mean = await fisherOrthogonal().combine([x1, x2], v);
      const sum = await fisherOrthogonal({ etaNumerator: 'sum' }).combine([x1, x2], v);
      const em = mean.diagnostics.b.eta!;
      const es = sum.diagnostics.b.eta!;
      expect(em).toBeGreaterThanOrEqual(0.5 - 1e-6);
      expect(em).toBeLessThanOrEqual(1 + 1e-6);
      expect(es / em).toBeCloseTo(2, 6);
      const ref = referenceFop(v.matrices.b.f, v.matrices.b.inv, a, b);
      expect(em).toBeCloseTo(ref.eta, 4);
      if (em < 0.9) seen++;
      disposeAll(x1, x2, mean.directions, mean.meanGrads, sum.directions, sum.meanGrads);
      v.dispose();
    }
    // The range is exercised, not only eta* = 1.
    expect(seen).toBeGreaterThan(0);
  });
});

describe('fisherOrthogonal(): reduction to KFAC on the mean', () => {
  const rand = seededRandom(77);
  const blockSpecs = specs(rand);
  let view: DenseView;
  beforeAll(() => {
    view = denseView(blockSpecs, 0.1);
  });
  afterAll(() => view.dispose());

  it('g1 = g2 gives beta* = 0, eta* = 1 and exactly the KFAC direction', async () => {
    const g = toMap(blockSpecs, blockSpecs.map((s) => randomVector(s.matrix.length, rand)));
    const before = tf.memory().numTensors;
    const fop = await fisherOrthogonal().combine([g, g], view);
    const kfac = await identity().combine([g], view);
    for (const spec of blockSpecs) {
      expect(fop.diagnostics[spec.name]).toEqual({ s: 0, beta: 0, eta: 1, perpRatio: 0 });
      expect(await flatOf(fop.directions, spec)).toEqual(await flatOf(kfac.directions, spec));
    }
    disposeAll(fop.directions, fop.meanGrads, kfac.directions, kfac.meanGrads);
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(g);
  });

  it('halves that differ by float32 rounding only count as agreeing (relative guard)', async () => {
    const flat = blockSpecs.map((s) => randomVector(s.matrix.length, rand));
    const g1 = toMap(blockSpecs, flat);
    // One ulp apart in a few entries: g_perp is pure rounding noise.
    const g2 = toMap(blockSpecs, flat.map((v) => v.map((x, i) => (i % 3 === 0 ? x * (1 + 2 ** -22) : x))));
    const fop = await fisherOrthogonal().combine([g1, g2], view);
    const kfac = await identity().combine([fop.meanGrads], view);
    for (const spec of blockSpecs) {
      expect(fop.diagnostics[spec.name].beta).toBe(0);
      expect(fop.diagnostics[spec.name].eta).toBe(1);
      expect(await flatOf(fop.directions, spec)).toEqual(await flatOf(kfac.directions, spec));
    }
    // Without the guard the same halves would mix in the noise direction.
    const unguarded = referenceFop(
      view.matrices.conv.f,
      view.matrices.conv.inv,
      await flatOf(g1, blockSpecs[0]),
      await flatOf(g2, blockSpecs[0]),
    );
    expect(Math.abs(unguarded.beta)).toBeGreaterThan(1);
    disposeAll(g1, g2, fop.directions, fop.meanGrads, kfac.directions, kfac.meanGrads);
  });

  it('betaClamp 0 is KFAC on the mean; an interval clamps beta* and eta* follows the closed form', async () => {
    const v1 = blockSpecs.map((s) => randomVector(s.matrix.length, rand));
    const v2 = blockSpecs.map((s) => randomVector(s.matrix.length, rand));
    const g1 = toMap(blockSpecs, v1);
    const g2 = toMap(blockSpecs, v2);
    const zero = await fisherOrthogonal({ betaClamp: 0 }).combine([g1, g2], view);
    const kfac = await identity().combine([zero.meanGrads], view);
    const clamped = await fisherOrthogonal({ betaClamp: { min: -0.05, max: 0.05 } }).combine([g1, g2], view);
    for (const [i, spec] of blockSpecs.entries()) {
      expect(zero.diagnostics[spec.name].eta).toBe(1);
      expect(await flatOf(zero.directions, spec)).toEqual(await flatOf(kfac.directions, spec));
      const m = view.matrices[spec.name];
      const ref = referenceFop(m.f, m.inv, v1[i], v2[i], 1, [-0.05, 0.05]);
      expect(Math.abs(clamped.diagnostics[spec.name].beta!)).toBeLessThanOrEqual(0.05 + 1e-9);
      expect(clamped.diagnostics[spec.name].eta).toBeCloseTo(ref.eta, 5);
      expect(relErr(await flatOf(clamped.directions, spec), ref.direction)).toBeLessThan(1e-5);
    }
    disposeAll(g1, g2, zero.directions, zero.meanGrads, kfac.directions, kfac.meanGrads, clamped.directions, clamped.meanGrads);
  });

  it('a vanishing block gradient or opposite halves give finite directions', async () => {
    const n0 = blockSpecs[0].matrix.length;
    const a = randomVector(n0, rand);
    const zeros = toMap(blockSpecs, [new Array(n0).fill(0), randomVector(6, rand)]);
    const opposite1 = toMap(blockSpecs, [a, randomVector(6, rand)]);
    const opposite2 = toMap(blockSpecs, [scale(-1, a), randomVector(6, rand)]);
    for (const [x, y, ratio] of [
      [zeros, zeros, 0],
      [opposite1, opposite2, Number.POSITIVE_INFINITY],
    ] as const) {
      const res = await fisherOrthogonal().combine([x, y], view);
      const dir = await flatOf(res.directions, blockSpecs[0]);
      expect(dir.every((d) => d === 0)).toBe(true);
      const { s, beta, eta, perpRatio } = res.diagnostics.conv;
      expect([s, beta, eta].every((d) => Number.isFinite(d))).toBe(true);
      // g_avg = 0: nothing to step along; the ratio says whether the halves disagreed.
      expect(perpRatio).toBe(ratio);
      disposeAll(res.directions, res.meanGrads);
    }
    disposeAll(zeros, opposite1, opposite2);
  });
});

describe('fisherOrthogonal() on other curvature structures', () => {
  it('Kronecker blocks A (x) G with a real tiny-model gradient match the dense reference', async () => {
    const model = tinyModel(5, 8);
    const rand = seededRandom(31);
    const [w1, b1, w2, b2] = model.variables.map((v) => v.name);
    const view = kroneckerView([
      { name: 'd1', kernel: w1, bias: b1, a: randomSpd(4, rand), g: randomSpd(4, rand), lambdaA: 0.05, lambdaG: 0.2 },
      { name: 'd2', kernel: w2, bias: b2, a: randomSpd(5, rand), g: randomSpd(2, rand), lambdaA: 0.1, lambdaG: 0.1 },
    ]);
    const h1 = model.grads(0, 4);
    const h2 = model.grads(4, 8);
    const before = tf.memory().numTensors;
    const res = await fisherOrthogonal().combine([h1, h2], view);
    for (const [block, k, b] of [
      ['d1', w1, b1],
      ['d2', w2, b2],
    ]) {
      const flat = async (m: ParamMap) => [...(await m[k].data()), ...(await m[b].data())];
      const m = view.matrices[block];
      const ref = referenceFop(m.f, m.inv, await flat(h1), await flat(h2));
      expect(relErr(await flat(res.directions), ref.direction)).toBeLessThan(1e-4);
      expect(res.diagnostics[block].eta! / ref.eta).toBeCloseTo(1, 4);
      expect(view.blocks.find((x) => x.name === block)!.params).toEqual([k, b]);
    }
    disposeAll(res.directions, res.meanGrads);
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(h1, h2);
    view.dispose();
    model.dispose();
  });

  it('diagonal (per-parameter) blocks and a view without blocks', async () => {
    const rand = seededRandom(8);
    const diag = (n: number): Matrix => Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => (i === j ? 0.1 + rand() : 0)));
    const perParam: DenseBlockSpec[] = [
      { name: 'w', params: [{ name: 'w', shape: [2, 3] }], matrix: diag(6) },
      { name: 'b', params: [{ name: 'b', shape: [3] }], matrix: diag(3) },
    ];
    const view = denseView(perParam, 0.01);
    const v1 = [randomVector(6, rand), randomVector(3, rand)];
    const v2 = [randomVector(6, rand), randomVector(3, rand)];
    const g1 = toMap(perParam, v1);
    const g2 = toMap(perParam, v2);
    const before = tf.memory().numTensors;
    const res = await fisherOrthogonal().combine([g1, g2], view);
    for (const [i, spec] of perParam.entries()) {
      const ref = referenceFop(view.matrices[spec.name].f, view.matrices[spec.name].inv, v1[i], v2[i]);
      expect(relErr(await flatOf(res.directions, spec), ref.direction)).toBeLessThan(1e-5);
    }
    disposeAll(res.directions, res.meanGrads);
    const none = await fisherOrthogonal().combine([g1, g2], { blocks: [], precondition: () => ({}), multiply: () => ({}) });
    expect(none.diagnostics).toEqual({});
    expect(await flatOf(none.directions, perParam[0])).toEqual(await flatOf(none.meanGrads, perParam[0]));
    expect(none.directions.w).not.toBe(none.meanGrads.w);
    disposeAll(none.directions, none.meanGrads);
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(g1, g2);
    view.dispose();
  });
});

describe('fisherOrthogonal() on blocks of many parameter tensors', () => {
  it('sums the inner products of more tensors per block than one WebGPU addN can bind', async () => {
    const rand = seededRandom(808);
    // A block's inner products add one partial sum per tensor: with as many tensors as the device
    // has storage buffers per shader stage (8 by default, 16 on lavapipe), a single addN could not
    // bind them all plus its output, and would return garbage.
    const limit = storageBuffersPerStage();
    const shapes = (n: number, prefix: string) =>
      Array.from({ length: n }, (_, i) => ({ name: `${prefix}/p${i}`, shape: i % 3 === 0 ? [2] : i % 3 === 1 ? [1, 2] : [1] }));
    const many: DenseBlockSpec[] = [
      { name: 'wide', params: shapes(limit, 'wide'), matrix: [] },
      { name: 'wider', params: shapes(limit + 3, 'wider'), matrix: [] },
    ].map((b) => {
      const n = b.params.reduce((t, p) => t + numel(p.shape), 0);
      return { ...b, matrix: randomSpd(n, rand) };
    });
    const view = denseView(many, 0.05);
    const v1 = many.map((b) => randomVector(b.matrix.length, rand));
    const v2 = many.map((b) => randomVector(b.matrix.length, rand));
    const g1 = toMap(many, v1);
    const g2 = toMap(many, v2);
    const before = tf.memory().numTensors;
    const res = await fisherOrthogonal().combine([g1, g2], view);
    for (const [i, spec] of many.entries()) {
      const m = view.matrices[spec.name];
      const ref = referenceFop(m.f, m.inv, v1[i], v2[i]);
      const dg = res.diagnostics[spec.name];
      expect(dg.s).toBeCloseTo(ref.s, 4);
      expect(dg.beta! / ref.beta).toBeCloseTo(1, 4);
      expect(dg.eta! / ref.eta).toBeCloseTo(1, 5);
      expect(dg.perpRatio! / ref.perpRatio).toBeCloseTo(1, 5);
      expect(relErr(await flatOf(res.directions, spec), ref.direction)).toBeLessThan(1e-5);
    }
    disposeAll(res.directions, res.meanGrads);
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(g1, g2);
    view.dispose();
  });
});

describe('fisherOrthogonal(): surface, memory and errors', () => {
  it('is exported from the package root and the fop subpath', () => {
    expect(fromRoot).toBe(fisherOrthogonal);
    const p = fisherOrthogonal();
    expect(p.name).toBe('fisherOrthogonal');
    expect(p.subBatches).toBe(2);
  });

  it('leaves tf.memory().numTensors unchanged over repeated steps, with or without diagnostics', async () => {
    const rand = seededRandom(4);
    const blockSpecs = specs(rand);
    const view = denseView(blockSpecs, 0.1);
    const g1 = toMap(blockSpecs, blockSpecs.map((s) => randomVector(s.matrix.length, rand)));
    const g2 = toMap(blockSpecs, blockSpecs.map((s) => randomVector(s.matrix.length, rand)));
    const before = tf.memory().numTensors;
    for (const opts of [{}, { diagnostics: false }, { etaNumerator: 'sum' as const, betaClamp: 2 }]) {
      const p = fisherOrthogonal(opts);
      for (let step = 0; step < 3; step++) {
        const res = await p.combine([g1, g2], view);
        expect(Object.keys(res.directions).length).toBe(3);
        if (opts.diagnostics === false) expect(res.diagnostics).toEqual({});
        disposeAll(res.directions, res.meanGrads);
        expect(tf.memory().numTensors).toBe(before);
      }
    }
    disposeAll(g1, g2);
    view.dispose();
  });

  it('a failed diagnostics read rejects with DEVICE_ERROR and releases the step', async () => {
    const rand = seededRandom(12);
    const blockSpecs = specs(rand);
    const view = denseView(blockSpecs, 0.1);
    const g1 = toMap(blockSpecs, blockSpecs.map((s) => randomVector(s.matrix.length, rand)));
    const g2 = toMap(blockSpecs, blockSpecs.map((s) => randomVector(s.matrix.length, rand)));
    const before = tf.memory().numTensors;
    // What a lost WebGPU device does to a pending read.
    const reported = new NatgradError('DEVICE_ERROR', 'The WebGPU device reported an error', {
      expected: 'no device error',
      received: 'a validation error',
      fix: 'none',
    });
    const read = vi
      .spyOn(tf.Tensor.prototype, 'data')
      .mockRejectedValueOnce(new Error('device lost'))
      .mockRejectedValueOnce(reported);
    try {
      const failed = fisherOrthogonal().combine([g1, g2], view);
      await expect(failed).rejects.toThrow(NatgradError);
      await expect(failed).rejects.toMatchObject({ code: 'DEVICE_ERROR' });
      expect(tf.memory().numTensors).toBe(before);
      // A NatgradError from the backend's own device-error check passes through unwrapped.
      await expect(fisherOrthogonal().combine([g1, g2], view)).rejects.toBe(reported);
      expect(read).toHaveBeenCalledTimes(2);
    } finally {
      read.mockRestore();
    }
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(g1, g2);
    view.dispose();
  });

  it('rejects bad options and inputs with NatgradError', async () => {
    const bad: unknown[] = [
      { eps: 0 },
      { eps: -1 },
      { eps: Number.NaN },
      { etaNumerator: 'total' },
      { betaClamp: -1 },
      { betaClamp: { min: 0.5, max: 1 } },
      { betaClamp: { min: 1, max: -1 } },
      { diagnostics: 'yes' },
      { epsilon: 1e-8 },
      null,
    ];
    for (const o of bad) expect(() => fisherOrthogonal(o as never)).toThrow(NatgradError);
    const g = { w: tf.tensor([1, 2]) };
    const view = denseView([{ name: 'w', params: [{ name: 'w', shape: [2] }], matrix: [[1, 0], [0, 1]] }], 0);
    await expect(fisherOrthogonal().combine([g], view)).rejects.toThrow(/wrong number of sub-batch/);
    const h = { w: tf.tensor([1, 2], [2], 'int32') };
    await expect(fisherOrthogonal().combine([g, h], view)).rejects.toThrow(/dtype int32/);
    disposeAll(g, h);
    view.dispose();
  });
});
