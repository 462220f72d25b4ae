// Every public Trainer call, over a whole lifecycle and for every preset, leaves
// tf.memory().numTensors where it found it: construction, fit with validation and a plateau-free
// schedule, fitDataset, evaluate, save, load into a second trainer, and dispose.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { levenbergMarquardt } from '@natgrad/damping';
import { Trainer, presets } from './index';
import { loadCheckpoint, saveCheckpoint } from './node/index';

const dir = mkdtempSync(join(tmpdir(), 'natgrad-lifecycle-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function model(seed: number): tf.LayersModel {
  return tf.sequential({
    layers: [
      tf.layers.dense({ inputShape: [6], units: 8, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed }) }),
      tf.layers.batchNormalization(),
      tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }) }),
    ],
  });
}

describe('Trainer lifecycle leaves no tensors behind', () => {
  for (const [name, preset] of Object.entries(presets)) {
    it(name, async () => {
      const before = tf.memory().numTensors;
      const x = tf.randomNormal([32, 6], 0, 1, 'float32', 3);
      const y = tf.tidy(() => tf.oneHot(tf.randomUniform([32], 0, 3, 'int32', 4), 3));
      const m1 = model(1);
      const m2 = model(5);
      const adaptive = name === 'sgd' || name === 'adamw' ? {} : { damping: levenbergMarquardt({ initial: 1e-2 }) };
      const a = new Trainer({ model: m1, loss: 'categoricalCrossentropy', ...preset({ learningRate: 0.01, ...adaptive }) });
      await a.fit(x, y, { epochs: 2, batchSize: 16, shuffle: true, validationData: [x, y] });
      const rows = { xs: tf.unstack(x), ys: tf.unstack(y) };
      const ds = tf.data.zip({ xs: tf.data.array(rows.xs), ys: tf.data.array(rows.ys) }).batch(16);
      await a.fitDataset(ds, { epochs: 3 });
      const logs = await a.evaluate(x, y, { batchSize: 16 });
      expect(Number.isFinite(logs.loss)).toBe(true);
      const path = join(dir, `${name}.ckpt`);
      await saveCheckpoint(a, path);
      const b = new Trainer({ model: m2, loss: 'categoricalCrossentropy', ...preset({ learningRate: 0.01, ...adaptive }) });
      await loadCheckpoint(b, path);
      await b.step(x, y);
      a.dispose();
      b.dispose();
      m1.dispose();
      m2.dispose();
      tf.dispose([x, y, ...rows.xs, ...rows.ys]);
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});
