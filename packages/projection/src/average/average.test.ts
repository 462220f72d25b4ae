import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from '../identity';
import { average } from './index';
import { randomSpd, seededRandom } from '../testing/dense-math';
import { denseView } from '../testing/dense-view';
import { kroneckerView } from '../testing/kronecker-view';
import { spdFor, tinyModel } from '../testing/tiny-model';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const model = tinyModel(3, 8);
afterAll(() => model.dispose());

function maxRelDiff(a: ParamMap, b: ParamMap): number {
  let num = 0;
  let den = 0;
  for (const k of Object.keys(a)) {
    const x = a[k].dataSync();
    const y = b[k].dataSync();
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
  it('equals KFAC (identity) on the whole batch for a model without BatchNorm', () => {
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
      const full = identity().combine([whole], view);
      const avg = average().combine([h1, h2], view);
      expect(maxRelDiff(avg.meanGrads, full.meanGrads)).toBeLessThan(1e-5);
      expect(maxRelDiff(avg.directions, full.directions)).toBeLessThan(1e-5);
      disposeResult(full);
      disposeResult(avg);
    }
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([...Object.values(whole), ...Object.values(h1), ...Object.values(h2)]);
    kron.dispose();
  });

  it('averages k sub-batches and calls precondition once', () => {
    const rand = seededRandom(5);
    const view = denseView(model.blockShapes.slice(0, 1).map((b) => ({ ...b, matrix: spdFor(b, rand) })), 0.1);
    const parts = [model.grads(0, 2), model.grads(2, 4), model.grads(4, 6), model.grads(6, 8)];
    const whole = model.grads(0, 8);
    const before = tf.memory().numTensors;
    const p = average({ subBatches: 4 });
    expect(p.subBatches).toBe(4);
    const avg = p.combine(parts, view);
    const full = identity().combine([whole], view);
    expect(view.calls.precondition).toBe(2);
    expect(maxRelDiff(avg.directions, full.directions)).toBeLessThan(1e-5);
    // d2 is in no block: its direction is the mean gradient itself.
    expect(maxRelDiff({ x: avg.directions[model.variables[2].name] }, { x: whole[model.variables[2].name] })).toBeLessThan(1e-5);
    disposeResult(avg);
    disposeResult(full);
    expect(tf.memory().numTensors).toBe(before);
    for (const m of [...parts, whole]) tf.dispose(Object.values(m));
  });

  it('validates its options and inputs', () => {
    expect(() => average({ subBatches: 0 })).toThrow(NatgradError);
    expect(() => average({ subBatches: 1.5 })).toThrow(/positive integer/);
    expect(() => average(null as never)).toThrow(/options must be an object/);
    const g = model.grads(0, 8);
    const view = denseView([], 0);
    expect(() => average().combine([g], view)).toThrow(/wrong number of sub-batch/);
    const other = { ...g, extra: g[model.variables[0].name] };
    expect(() => average().combine([g, other], view)).toThrow(/cover different parameters/);
    const reshaped = { ...g, [model.variables[1].name]: tf.zeros([5]) };
    expect(() => average().combine([g, reshaped], view)).toThrow(/shapes/);
    tf.dispose([reshaped[model.variables[1].name], ...Object.values(g)]);
  });
});
