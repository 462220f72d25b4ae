import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { convProblem, denseProblem } from '../testing/brute-force';
import { kfac } from './estimator';
import { batchFactors } from './factors';

describe('kfac.foldFactors (distributed training folds the averaged batch factors)', () => {
  it('folding batchFactors() is bit-identical to updateStatistics() on the same batch, Dense and Conv2D', async () => {
    const dense = await denseProblem(61, 3, 4, 3);
    const conv = await convProblem(62, { n: 3, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: 'same' });
    const problems = [dense, conv];
    const vars = Object.fromEntries(problems.flatMap((p) => [[p.layer.kernel, p.kernel], [p.layer.bias!, p.bias!]]));
    const layers = problems.map((p) => p.layer);
    const viaCaptures = kfac({ decay: 0.9 });
    const viaFactors = kfac({ decay: 0.9 });
    viaCaptures.init(layers, vars);
    viaFactors.init(layers, vars);
    const batch = { captures: Object.fromEntries(problems.map((p) => [p.layer.name, p.capture])), grads: {}, batchSize: 3 };
    const before = tf.memory().numTensors;
    for (let i = 0; i < 2; i++) {
      await viaCaptures.updateStatistics(batch);
      const factors = layers.map((l, k) => batchFactors(l, problems[k].capture, 3));
      viaFactors.foldFactors(factors);
      for (const f of factors) tf.dispose([f.a, f.g]);
    }
    expect(tf.memory().numTensors).toBe(before);
    for (const l of layers) {
      const a = viaCaptures.factors(l.name);
      const b = viaFactors.factors(l.name);
      expect(Array.from(await b.a.data())).toEqual(Array.from(await a.a.data()));
      expect(Array.from(await b.g.data())).toEqual(Array.from(await a.g.data()));
      tf.dispose([a.a, a.g, b.a, b.g]);
    }
    const state = viaFactors.getState();
    expect(state.values.steps).toBe(2);
    tf.dispose(Object.values(state.tensors));
    viaCaptures.dispose();
    viaFactors.dispose();
    for (const p of problems) p.dispose();
  });

  it('refuses a wrong count or shape before changing anything', async () => {
    const p = await denseProblem(63, 4, 3, 2);
    const est = kfac();
    est.init([p.layer], { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! });
    expect(() => est.foldFactors([])).toThrow(NatgradError);
    const bad = { a: tf.zeros([2, 2]), g: tf.zeros([2, 2]) };
    expect(() => est.foldFactors([bad])).toThrow(/wrong shape/);
    const state = est.getState();
    expect(state.values.steps).toBe(0);
    tf.dispose(Object.values(state.tensors));
    tf.dispose([bad.a, bad.g]);
    est.dispose();
    p.dispose();
  });
});
