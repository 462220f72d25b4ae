import * as tf from '@tensorflow/tfjs';
import { createStatisticsWorker } from '@natgrad/backends/node';
import type { StatisticsWorker } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nonFiniteTensors } from './checkpoint-format';
import { type Composition, Trainer } from './index';
import { diagonal, fop, kfac } from './presets';
import { blobs, mlp, weightBits } from './testing/problems';

// Activations of 1e20 are finite, their squares (the KFAC factor A = XᵀX, the diagonal Fisher's
// squared gradients) are not: finite captures alone must not let such a batch into the statistics.
let worker: StatisticsWorker;
beforeAll(async () => {
  // The worker copies tensors to the host synchronously (cpu and wasm only).
  await tf.setBackend('cpu');
  worker = await createStatisticsWorker();
});
afterAll(async () => {
  await worker.terminate();
});

const compositions: [string, () => Composition][] = [
  ['kfac', () => kfac({ learningRate: 0.01, damping: 0.01, inverseEvery: 1 })],
  ['fop', () => fop({ learningRate: 0.01, damping: 0.01, inverseEvery: 1 })],
  ['kfac with a statistics worker', () => kfac({ learningRate: 0.01, damping: 0.01, inverseEvery: 1, statisticsWorker: worker })],
  ['diagonal', () => diagonal({ learningRate: 0.01, damping: 0.01, inverseEvery: 1 })],
];

describe('statistics that would overflow never enter the curvature state', () => {
  for (const [name, make] of compositions) {
    it(`${name}: a batch with finite but huge activations is skipped, weights and statistics stay finite`, async () => {
      const d = blobs({ n: 16, seed: 8, classes: 3, dims: 4 });
      const t = new Trainer({ model: mlp({ seed: 3 }), loss: 'categoricalCrossentropy', ...make(), seed: 1 });
      await t.step(d.x, d.y);
      const bits = await weightBits(t.model);
      const huge = tf.tidy(() => tf.mul(d.x, 1e20));
      expect((await tf.all(tf.isFinite(huge)).data())[0]).toBe(1);
      const r = await t.step(huge, d.y);
      expect(r.skipped).toBe(true);
      expect(r.statisticsUpdated).toBe(false);
      expect(await weightBits(t.model)).toEqual(bits);
      // The next steps refresh the inverses from the statistics: they must still be finite.
      for (let i = 0; i < 2; i++) expect((await t.step(d.x, d.y)).skipped).toBe(false);
      expect(nonFiniteTensors(await t.toCheckpointBytes())).toEqual([]);
      t.dispose();
      tf.dispose([d.x, d.y, huge]);
    });
  }
});
