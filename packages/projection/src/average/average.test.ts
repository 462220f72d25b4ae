import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from '../identity';
import { average } from './index';
import { randomSpd, seededRandom } from '../testing/dense-math';
import { denseView } from '../testing/dense-view';
import { kroneckerView } from '../testing/kronecker-view';
import { type TinyModel, spdFor, tinyModel } from '../testing/tiny-model';
import { storageBuffersPerStage } from '../../../../test/webgpu-limits';

let model: TinyModel;
beforeAll(() => {
  model = tinyModel(3, 8);
});
afterAll(() => model.dispose());

async function maxRelDiff(a: ParamMap, b: ParamMap): Promise<number> {
  let num = 0;
  let den = 0;
  for (const k of Object.keys(a)) {
    const x = await a[k].data();
    const y = await b[k].data();
    for (let i = 0; i < x.length; i++) {
      num = Math.max(num, Math.abs(x[i] - y[i]));
      den = Math.max(den, Math.abs(y[i]));
    }
  }
  return num / den;
}

const disposeResult = (r: { directions: ParamMap; meanGrads: ParamMap }) =>
  tf.dispose([...Object.values(r.directions), ...Object.values(r.meanGrads)]);

describe('average()', () => {
  it('equals KFAC (identity) on the whole batch for a model without BatchNorm', async () => {
    const rand = seededRandom(11);
    const dense = denseView(model.blockShapes.map((b) => ({ ...b, matrix: spdFor(b, rand) })), 0.05);
    const kron = kroneckerView([
      { name: 'd1', kernel: model.variables[0].name, bias: model.variables[1].name, a: randomSpd(4, rand), g: randomSpd(4, rand), lambdaA: 0.1, lambdaG: 0.1 },
      { name: 'd2', kernel: model.variables[2].name, bias: model.variables[3].name, a: randomSpd(5, rand), g: randomSpd(2, rand), lambdaA: 0.1, lambdaG: 0.1 },
    ]);
    const whole = model.grads(0, 8);
    const h1 = model.grads(0, 4);
    const h2 = model.grads(4, 8);
    const before = tf.memory().numTensors;
    for (const view of [dense, kron]) {
      const full = await identity().combine([whole], view);
      const avg = await average().combine([h1, h2], view);
      expect(await maxRelDiff(avg.meanGrads, full.meanGrads)).toBeLessThan(1e-5);
      expect(await maxRelDiff(avg.directions, full.directions)).toBeLessThan(1e-5);
      disposeResult(full);
      disposeResult(avg);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...Object.values(whole), ...Object.values(h1), ...Object.values(h2)]);
    kron.dispose();
    dense.dispose();
  });

  it('averages k sub-batches and calls precondition once', async () => {
    const rand = seededRandom(5);
    const view = denseView(model.blockShapes.slice(0, 1).map((b) => ({ ...b, matrix: spdFor(b, rand) })), 0.1);
    const parts = [model.grads(0, 2), model.grads(2, 4), model.grads(4, 6), model.grads(6, 8)];
    const whole = model.grads(0, 8);
    const before = tf.memory().numTensors;
    const p = average({ subBatches: 4 });
    expect(p.subBatches).toBe(4);
    const avg = await p.combine(parts, view);
    const full = await identity().combine([whole], view);
    expect(view.calls.precondition).toBe(2);
    expect(await maxRelDiff(avg.directions, full.directions)).toBeLessThan(1e-5);
    // d2 is in no block: its direction is the mean gradient itself.
    expect(await maxRelDiff({ x: avg.directions[model.variables[2].name] }, { x: whole[model.variables[2].name] })).toBeLessThan(1e-5);
    disposeResult(avg);
    disposeResult(full);
    expect(tf.memory().numTensors).toBe(before);
    for (const m of [...parts, whole]) tf.dispose(Object.values(m));
    view.dispose();
  });

  it('averages more sub-batches than one WebGPU addN can bind', async () => {
    // k gradients as inputs of one addN need k + 1 storage buffers in one shader stage: k = the
    // device's limit (8 by default, 16 on lavapipe) would make a plain addN return garbage.
    const k = storageBuffersPerStage();
    const wide = tinyModel(30, k);
    const rand = seededRandom(6);
    const view = denseView(wide.blockShapes.map((b) => ({ ...b, matrix: spdFor(b, rand) })), 0.1);
    const parts = Array.from({ length: k }, (_, i) => wide.grads(i, i + 1));
    const whole = wide.grads(0, k);
    const before = tf.memory().numTensors;
    const avg = await average({ subBatches: k }).combine(parts, view);
    const full = await identity().combine([whole], view);
    // The mean of the k one-example gradients is the whole-batch gradient; a garbage sum is not.
    expect(await maxRelDiff(avg.meanGrads, whole)).toBeLessThan(1e-5);
    expect(await maxRelDiff(avg.directions, full.directions)).toBeLessThan(1e-5);
    disposeResult(avg);
    disposeResult(full);
    expect(tf.memory().numTensors).toBe(before);
    for (const m of [...parts, whole]) tf.dispose(Object.values(m));
    view.dispose();
    wide.dispose();
  });

  it('validates its options and inputs', async () => {
    expect(() => average({ subBatches: 0 })).toThrow(NatgradError);
    expect(() => average({ subBatches: 1.5 })).toThrow(/positive integer/);
    expect(() => average(null as never)).toThrow(/options must be an object/);
    const g = model.grads(0, 8);
    const view = denseView([], 0);
    await expect(average().combine([g], view)).rejects.toThrow(/wrong number of sub-batch/);
    const other = { ...g, extra: g[model.variables[0].name] };
    await expect(average().combine([g, other], view)).rejects.toThrow(/cover different parameters/);
    const reshaped = { ...g, [model.variables[1].name]: tf.zeros([5]) };
    await expect(average().combine([g, reshaped], view)).rejects.toThrow(/shapes/);
    tf.dispose([reshaped[model.variables[1].name], ...Object.values(g)]);
  });
});
