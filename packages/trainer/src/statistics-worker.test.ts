import * as tf from '@tensorflow/tfjs';
import { createStatisticsWorker } from '@natgrad/backends/node';
import type { StatisticsWorker } from '@natgrad/core';
import type { KfacEstimator } from '@natgrad/curvature';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagonal, fop, kfac } from './presets';
import { blobs, mlp, weightValues } from './testing/problems';
import { Trainer } from './trainer';

let worker: StatisticsWorker;
// The worker copies tensors to the host synchronously, which only cpu and wasm allow; the
// comparison is about the worker, so it runs on cpu whatever NATGRAD_TEST_BACKEND says.
beforeAll(async () => {
  await tf.setBackend('cpu');
  worker = await createStatisticsWorker();
});
afterAll(async () => {
  await worker.terminate();
});

describe('presets with a statistics worker', () => {
  for (const [name, preset] of [
    ['kfac', kfac],
    ['fop', fop],
  ] as const) {
    it(`${name}: training with statistics on the worker is bit-identical to inline statistics`, async () => {
      const train = blobs({ n: 96, seed: 21, classes: 3, dims: 5 });
      const run = async (statisticsWorker?: StatisticsWorker) => {
        const composition = preset({ learningRate: 0.01, damping: 0.01, statisticsEvery: 1, inverseEvery: 3, statisticsWorker });
        // The worker really is in use (a preset that dropped it would pass the comparison trivially).
        expect((composition.curvature as KfacEstimator).statisticsWorker).toBe(statisticsWorker);
        const t = Trainer.fromPreset(mlp({ dims: 5, classes: 3 }), 'categoricalCrossentropy', composition, { seed: 3 });
        const h = await t.fit(train.x, train.y, { epochs: 2, batchSize: 32 });
        const weights = (await weightValues(t.model)).map((w) => Array.from(w));
        t.dispose();
        t.model.dispose();
        return { loss: h.history.loss, weights };
      };
      const inline = await run();
      const before = tf.memory().numTensors;
      const offloaded = await run(worker);
      expect(tf.memory().numTensors).toBe(before);
      expect(offloaded.loss).toEqual(inline.loss);
      expect(offloaded.weights).toEqual(inline.weights);
      tf.dispose([train.x, train.y]);
    });
  }

  it('the diagonal presets refuse a statistics worker with a clear error', () => {
    expect(() => diagonal({ statisticsWorker: worker })).toThrow(/statisticsWorker applies to KFAC statistics only/);
  });
});
