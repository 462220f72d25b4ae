// The README's "Using the library" example, run as written on tiny data, so the front page cannot
// drift from the API. It runs on NATGRAD_TEST_BACKEND; the statistics worker part only where the
// README says it applies (cpu, wasm), and elsewhere checks that it is refused.
import * as tf from '@tensorflow/tfjs';
import { createStatisticsWorker } from '@natgrad/backends/node';
import { diagonal } from '@natgrad/curvature/diagonal';
import { describe, expect, it } from 'vitest';
import { Trainer, fop } from './index';

describe('README example', () => {
  it('builds FOP over KFAC, over the diagonal Fisher and with a statistics worker, reports registration, fits and disposes cleanly', async () => {
    const before = tf.memory().numTensors;
    const x = tf.randomUniform([64, 784], 0, 1, 'float32', 1);
    const y = tf.tidy(() => tf.oneHot(tf.randomUniform([64], 0, 10, 'int32', 2), 10));
    const model = tf.sequential({
      layers: [tf.layers.dense({ inputShape: [784], units: 16, activation: 'relu' }), tf.layers.dense({ units: 10, activation: 'softmax' })],
    });
    const trainer = new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.01 }) });
    expect(trainer.report()).toMatch(/dense/);
    const history = await trainer.fit(x, y, { epochs: 1, batchSize: 32, validationData: [x, y] });
    expect(history.epoch).toEqual([0]);
    expect(history.history.loss).toHaveLength(1);
    expect(Number.isFinite(history.history.loss[0])).toBe(true);
    trainer.dispose();
    const cheap = new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ curvature: diagonal() }) });
    await cheap.fit(x, y, { epochs: 1, batchSize: 32 });
    cheap.dispose();
    const host = ['cpu', 'wasm'].includes(tf.getBackend());
    // On a GPU backend createStatisticsWorker() refuses to mirror it; a cpu worker is then refused
    // by the estimator, as the README says.
    const statisticsWorker = await createStatisticsWorker(host ? {} : { backend: 'cpu' });
    try {
      if (host) {
        const twoCores = new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ statisticsWorker }) });
        await twoCores.fit(x, y, { epochs: 1, batchSize: 32 });
        twoCores.dispose();
      } else {
        expect(() => new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ statisticsWorker }) })).toThrow(
          expect.objectContaining({ code: 'UNSUPPORTED_BACKEND' }),
        );
      }
    } finally {
      await statisticsWorker.terminate();
    }
    model.dispose();
    tf.dispose([x, y]);
    expect(tf.memory().numTensors).toBe(before);
  });
});
