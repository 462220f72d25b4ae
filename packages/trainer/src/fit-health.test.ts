import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import type { Logs } from './fit-loop';
import { fop } from './presets';
import { blobs, mlp } from './testing/problems';
import { Trainer } from './trainer';

function trainer(): Trainer {
  return new Trainer({ model: mlp({ seed: 4 }), loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.01, damping: 0.01 }), metrics: ['accuracy'], seed: 2 });
}

/** 32 examples whose second batch of 8 holds one NaN: with shuffle off, exactly step 1 is skipped. */
function dataWithBadBatch(): { x: tf.Tensor; y: tf.Tensor } {
  const d = blobs({ n: 32, seed: 9 });
  const x = tf.tidy(() => tf.where(tf.equal(tf.range(0, 32 * 4).reshape([32, 4]), 8 * 4 + 1), tf.fill([32, 4], Number.NaN), d.x));
  d.x.dispose();
  return { x, y: d.y };
}

describe('fit() reports the health of each epoch', () => {
  it('epoch and batch logs count steps, skipped steps and damping boosts, and give the damping', async () => {
    const { x, y } = dataWithBadBatch();
    const t = trainer();
    const batches: Logs[] = [];
    const epochs: Logs[] = [];
    const h = await t.fit(x, y, {
      epochs: 2,
      batchSize: 8,
      shuffle: false,
      callbacks: { onBatchEnd: (_b, logs) => void batches.push(logs!), onEpochEnd: (_e, logs) => void epochs.push({ ...logs!, trainerEpoch: t.epoch }) },
    });
    expect(batches.map((b) => b.skipped)).toEqual([0, 1, 0, 0, 0, 1, 0, 0]);
    expect(batches.map((b) => b.dampingBoosted)).toEqual([0, 1, 0, 0, 0, 1, 0, 0]);
    expect(epochs.map((e) => [e.steps, e.skippedSteps, e.dampingBoosts, e.trainerEpoch])).toEqual([
      [4, 1, 1, 1],
      [4, 1, 1, 2],
    ]);
    // Each boost raises the damping (x10 by default) and the epoch logs show it.
    expect(epochs[0].damping).toBeGreaterThan(0.01);
    expect(epochs[1].damping).toBeGreaterThan(epochs[0].damping);
    expect(t.currentDamping()).toBe(epochs[1].damping);
    expect(h.history.dampingBoosts).toEqual([1, 1]);
    expect(Number.isFinite(epochs[0].loss)).toBe(true);
    t.dispose();
    tf.dispose([x, y]);
  });

  it('an epoch whose every step was skipped logs NaN loss and skippedSteps = steps; stopTraining from a callback ends fit', async () => {
    const d = blobs({ n: 16, seed: 9 });
    const nan = tf.tidy(() => tf.mul(d.x, Number.NaN));
    const t = trainer();
    const epochs: Logs[] = [];
    const h = await t.fit(nan, d.y, {
      epochs: 5,
      batchSize: 8,
      shuffle: false,
      callbacks: {
        onEpochEnd: (_e, logs) => {
          epochs.push(logs!);
          if (logs!.skippedSteps === logs!.steps) t.stopTraining = true;
        },
      },
    });
    expect(h.epoch).toEqual([0]);
    expect(epochs[0].steps).toBe(2);
    expect(epochs[0].skippedSteps).toBe(2);
    expect(Number.isNaN(epochs[0].loss)).toBe(true);
    expect(t.epoch).toBe(1);
    t.dispose();
    tf.dispose([d.x, d.y, nan]);
  });
});

describe('fit() on an empty training set', () => {
  it('is DATASET_INVALID naming the empty set, not an epoch logged with NaN loss', async () => {
    const t = trainer();
    const x = tf.zeros([0, 4]);
    const y = tf.zeros([0, 3]);
    const one = blobs({ n: 1, seed: 3 });
    const before = tf.memory().numTensors;
    await expect(t.fit(x, y, { epochs: 1, batchSize: 8 })).rejects.toThrow(/no training batch[\s\S]*received: no examples[\s\S]*non-empty training set/);
    // One example cannot split into FOP's two halves: it is dropped, and the error says so.
    await expect(t.fit(one.x, one.y, { epochs: 1, batchSize: 8 })).rejects.toThrow(/all 1 examples were dropped/);
    expect(t.epoch).toBe(0);
    expect(tf.memory().numTensors).toBe(before);
    t.dispose();
    tf.dispose([x, y, one.x, one.y]);
  });
});
