import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { average, identity } from '@natgrad/projection';
import { afterEach, describe, expect, it } from 'vitest';
import { ReduceLROnPlateau } from './lr-schedules';
import { blobs, mlp, weightBits, weightValues } from './testing/problems';
import { Trainer } from './trainer';
import { AdamW } from './update-rules/adamw';
import { Sgd } from './update-rules/sgd';

const trainers: Trainer[] = [];
afterEach(() => {
  for (const t of trainers.splice(0)) t.dispose();
});

function plain(options: { seed?: number; rule?: 'sgd' | 'adamw'; sub?: number } = {}): Trainer {
  const t = new Trainer({
    model: mlp({ seed: options.seed ?? 7 }),
    loss: 'categoricalCrossentropy',
    updateRule: options.rule === 'adamw' ? new AdamW({ weightDecay: 0 }) : new Sgd({ momentum: 0.9 }),
    learningRate: options.rule === 'adamw' ? 0.02 : 0.1,
    projection: (options.sub ?? 1) > 1 ? average({ subBatches: options.sub }) : identity(),
    metrics: ['accuracy'],
    seed: 3,
  });
  trainers.push(t);
  return t;
}

describe('Trainer, plain gradient path', () => {
  it('fits a separable problem with callbacks, validation and epoch logs', async () => {
    const train = blobs({ n: 96, seed: 1 });
    const val = blobs({ n: 30, seed: 2 });
    const t = plain();
    const batchLogs: number[] = [];
    const epochs: number[] = [];
    const history = await t.fit(train.x, train.y, {
      epochs: 6,
      batchSize: 32,
      validationData: [val.x, val.y],
      callbacks: {
        onBatchEnd: (_b, logs) => {
          batchLogs.push(logs!.loss);
        },
        onEpochEnd: (e) => {
          epochs.push(e);
        },
      },
    });
    expect(epochs).toEqual([0, 1, 2, 3, 4, 5]);
    expect(batchLogs).toHaveLength(18);
    expect(history.history.loss[5]).toBeLessThan(history.history.loss[0]);
    expect(history.history.val_acc[5]).toBeGreaterThanOrEqual(0.95);
    expect(history.history.skippedSteps).toEqual([0, 0, 0, 0, 0, 0]);
    expect(t.stepCount).toBe(18);
    expect((await t.evaluate(val.x, val.y)).acc).toBe(history.history.val_acc[5]);
    tf.dispose([train.x, train.y, val.x, val.y]);
  });

  it('shuffles with its seed: two trainers with the same seed produce bit-identical weights', async () => {
    const d = blobs({ n: 64, seed: 4 });
    const a = plain({ rule: 'adamw' });
    const b = plain({ rule: 'adamw' });
    await a.fit(d.x, d.y, { epochs: 2, batchSize: 16 });
    await b.fit(d.x, d.y, { epochs: 2, batchSize: 16 });
    expect(await weightBits(a.model)).toEqual(await weightBits(b.model));
    tf.dispose([d.x, d.y]);
  });

  it('trains from a tf.data.Dataset and trims a batch to the sub-batch multiple, reporting the dropped examples', async () => {
    const d = blobs({ n: 50, seed: 5 });
    const t = plain({ sub: 2 });
    const ds = tf.data
      .zip({ xs: tf.data.array(tf.unstack(d.x)), ys: tf.data.array(tf.unstack(d.y)) })
      .batch(16) as unknown as tf.data.Dataset<tf.TensorContainer>;
    const before = tf.memory().numTensors;
    const h = await t.fitDataset(ds, { epochs: 2 });
    // 50 = 16 + 16 + 16 + 2; every batch is even, so nothing is dropped.
    expect(h.history.droppedExamples).toEqual([0, 0]);
    expect(t.stepCount).toBe(8);
    const h2 = await t.fit(d.x, d.y, { epochs: 3, batchSize: 15 });
    // 50 = 15 * 3 + 5: each 15-batch loses one example to the 2-way split, the 5 loses one.
    expect(h2.history.droppedExamples).toEqual([4]);
    await expect(t.fit(d.x, d.y, { epochs: 3 })).rejects.toThrow(/no epoch left/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([d.x, d.y]);
  });

  it('a forced non-finite batch leaves the weights bit-identical, is counted and logged', async () => {
    const d = blobs({ n: 32, seed: 6 });
    const t = plain();
    await t.step(d.x, d.y);
    const bits = await weightBits(t.model);
    const bad = tf.tidy(() => tf.where(tf.equal(tf.range(0, 32 * 4).reshape([32, 4]), 5), tf.fill([32, 4], Number.NaN), d.x));
    const r = await t.step(bad, d.y);
    expect(r.skipped).toBe(true);
    expect(t.skippedSteps).toBe(1);
    expect(await weightBits(t.model)).toEqual(bits);
    const r2 = await t.step(d.x, d.y);
    expect(r2.skipped).toBe(false);
    expect(await weightBits(t.model)).not.toEqual(bits);
    tf.dispose([d.x, d.y, bad]);
  });

  it('refuses a step (or fit) while another step is in flight with CONCURRENT_CALL; the first step completes untouched', async () => {
    const d = blobs({ n: 16, seed: 12 });
    const t = plain({ seed: 5 });
    const twin = plain({ seed: 5 });
    // The classic mistake: a loop without await starts the next step before the previous settled.
    const first = t.step(d.x, d.y);
    const second = t.step(d.x, d.y);
    const fit = t.fit(d.x, d.y, { epochs: 1, batchSize: 16 });
    const evaluation = t.evaluate(d.x, d.y);
    for (const refused of [second, fit, evaluation]) {
      await expect(refused).rejects.toBeInstanceOf(NatgradError);
      await expect(refused).rejects.toMatchObject({ code: 'CONCURRENT_CALL' });
    }
    await expect(second).rejects.toThrow(/Trainer.step was called while Trainer.step is still running/);
    const r = await first;
    expect(r.step).toBe(0);
    expect(t.stepCount).toBe(1);
    // Exactly one step happened: the weights equal those of a twin that took one step.
    await twin.step(d.x, d.y);
    expect(await weightBits(t.model)).toEqual(await weightBits(twin.model));
    // Once settled, the trainer takes calls again; a step during fit() is refused too.
    const fitting = t.fit(d.x, d.y, { epochs: 1, batchSize: 8 });
    await expect(t.step(d.x, d.y)).rejects.toMatchObject({ code: 'CONCURRENT_CALL' });
    await fitting;
    expect(t.stepCount).toBe(3);
    expect((await t.step(d.x, d.y)).step).toBe(3);
    tf.dispose([d.x, d.y]);
  });

  it('no tensor growth over 200 steps', async () => {
    const d = blobs({ n: 16, seed: 8 });
    const t = plain({ rule: 'adamw', sub: 2 });
    await t.step(d.x, d.y);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) await t.step(d.x, d.y);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([d.x, d.y]);
  });

  it('clips the gradient norm and reports it; ReduceLROnPlateau scales the learning rate', async () => {
    const d = blobs({ n: 32, seed: 9 });
    const model = mlp();
    const t = new Trainer({ model, loss: 'categoricalCrossentropy', updateRule: new Sgd({ momentum: 0 }), learningRate: 1, clipNorm: 1e-3 });
    trainers.push(t);
    const w0 = await weightValues(model);
    const r = await t.step(d.x, d.y);
    expect(r.gradNorm).toBeGreaterThan(1e-3);
    // With momentum 0 and lr 1 the whole change has norm <= clipNorm.
    let sq = 0;
    (await weightValues(model)).forEach((now, i) => {
      for (let j = 0; j < now.length; j++) sq += (now[j] - w0[i][j]) ** 2;
    });
    expect(Math.sqrt(sq)).toBeLessThanOrEqual(1e-3 * (1 + 1e-4));
    expect(Math.sqrt(sq)).toBeGreaterThan(0.99e-3);

    const plateau = new ReduceLROnPlateau({ monitor: 'loss', patience: 1, factor: 0.5, minDelta: 10 });
    const p = new Trainer({ model: mlp(), loss: 'categoricalCrossentropy', updateRule: new Sgd(), learningRate: 0.1, plateau });
    trainers.push(p);
    const h = await p.fit(d.x, d.y, { epochs: 3, batchSize: 32 });
    // minDelta 10 means no epoch ever counts as an improvement after the first.
    expect(h.history.lr.map((v) => Number(v.toPrecision(6)))).toEqual([0.1, 0.05, 0.025]);
    tf.dispose([d.x, d.y]);
  });

  it('rejects bad configurations and batches with NatgradError', async () => {
    const d = blobs({ n: 9, seed: 10 });
    expect(() => new Trainer({ model: {} as tf.LayersModel, loss: 'mse', updateRule: new Sgd(), learningRate: 0.1 })).toThrow(NatgradError);
    expect(() => new Trainer({ model: mlp(), loss: 'mse', updateRule: new Sgd(), learningRate: 0.1, inverseEvery: 0 })).toThrow(/inverseEvery/);
    const t = plain({ sub: 2 });
    await expect(t.step(d.x, d.y)).rejects.toThrow(/multiple of 2/);
    const y = tf.zeros([8, 3]);
    await expect(t.step(d.x, y)).rejects.toThrow(/different numbers of examples/);
    tf.dispose([d.x, d.y, y]);
  });
});
