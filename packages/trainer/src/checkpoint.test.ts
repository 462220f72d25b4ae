import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NameCanonicalizer } from './checkpoint';
import { ReduceLROnPlateau } from './lr-schedules';
import { kfac as kfacCurvature } from '@natgrad/curvature';
import { adamw, fop, kfac, sgd } from './presets';
import { blobs, mlp, weightBits } from './testing/problems';
import { Trainer } from './trainer';
import { loadCheckpoint, saveCheckpoint } from './node/index';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'natgrad-ckpt-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Made on the test backend: beforeAll runs after the setup file has chosen it.
let data: ReturnType<typeof blobs>;
beforeAll(() => {
  data = blobs({ n: 64, seed: 21, classes: 3, dims: 4 });
});
afterAll(() => tf.dispose([data.x, data.y]));

function batch(i: number): { x: tf.Tensor; y: tf.Tensor } {
  const start = (i * 16) % 64;
  return { x: tf.slice(data.x, start, 16), y: tf.slice(data.y, start, 16) };
}

function fopTrainer(modelSeed: number): Trainer {
  return new Trainer({ model: mlp({ seed: modelSeed }), loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.01, damping: 0.01 }), seed: 5 });
}

async function expectCode(p: Promise<unknown> | (() => unknown), code: string, pattern: RegExp): Promise<void> {
  try {
    await (typeof p === 'function' ? p() : p);
    expect.unreachable('should have thrown');
  } catch (err) {
    expect(err).toBeInstanceOf(NatgradError);
    expect((err as NatgradError).code).toBe(code);
    expect((err as Error).message).toMatch(pattern);
  }
}

describe('checkpoints', () => {
  it('FOP + KFAC: save, load into a fresh trainer, continue => weights bit-identical to an uninterrupted run', async () => {
    const a = fopTrainer(7);
    const b = fopTrainer(7);
    const path = join(dir, 'fop.ckpt');
    // Step 7 lies between two inverse refreshes (every 3 steps in fopTrainer, or 10 by default): the
    // restored run must use the saved inverse cache, not one recomputed from the newer statistics.
    for (let i = 0; i < 7; i++) {
      const { x, y } = batch(i);
      await a.step(x, y);
      await b.step(x, y);
      tf.dispose([x, y]);
    }
    await saveCheckpoint(a, path);
    expect((await readdir(dir)).filter((f) => f.includes('.tmp-'))).toEqual([]);
    // A different initialisation: everything must come from the checkpoint.
    const c = fopTrainer(99);
    expect(await weightBits(c.model)).not.toEqual(await weightBits(a.model));
    const before = tf.memory().numTensors;
    await loadCheckpoint(c, path);
    expect(tf.memory().numTensors).toBe(before + 4); // c's inverse cache, restored by kfac.setState
    expect(c.stepCount).toBe(7);
    for (let i = 7; i < 25; i++) {
      const { x, y } = batch(i);
      await b.step(x, y);
      await c.step(x, y);
      tf.dispose([x, y]);
    }
    expect(await weightBits(c.model)).toEqual(await weightBits(b.model));
    for (const t of [a, b, c]) t.dispose();
  });

  it('AdamW + seeded shuffling + ReduceLROnPlateau: resuming fit() at an epoch boundary is bit-identical', async () => {
    const make = (seed: number) =>
      new Trainer({
        model: mlp({ seed }),
        loss: 'categoricalCrossentropy',
        ...adamw({ learningRate: 0.01, plateau: new ReduceLROnPlateau({ monitor: 'loss', patience: 1, minDelta: 0.05, factor: 0.5 }) }),
        seed: 9,
      });
    const full = make(3);
    await full.fit(data.x, data.y, { epochs: 5, batchSize: 16 });
    const first = make(3);
    await first.fit(data.x, data.y, { epochs: 2, batchSize: 16 });
    const bytes = await first.toCheckpointBytes();
    const resumed = make(4);
    resumed.fromCheckpointBytes(bytes);
    expect(resumed.epoch).toBe(2);
    const h = await resumed.fit(data.x, data.y, { epochs: 5, batchSize: 16 });
    expect(h.epoch).toEqual([2, 3, 4]);
    expect(await weightBits(resumed.model)).toEqual(await weightBits(full.model));
    expect(resumed.currentLearningRate()).toBe(full.currentLearningRate());
    for (const t of [full, first, resumed]) t.dispose();
  });

  it('rejects corrupt files with CHECKPOINT_CORRUPT and mismatched ones with CHECKPOINT_MISMATCH naming the variable, leaving the trainer untouched', async () => {
    const t = new Trainer({ model: mlp({ seed: 1 }), loss: 'categoricalCrossentropy', ...sgd() });
    const { x, y } = batch(0);
    await t.step(x, y);
    const path = join(dir, 'sgd.ckpt');
    await saveCheckpoint(t, path);
    const good = await readFile(path);

    const flipped = Buffer.from(good);
    flipped[flipped.length - 3] ^= 0x01;
    await writeFile(join(dir, 'flipped.ckpt'), flipped);
    await writeFile(join(dir, 'short.ckpt'), good.subarray(0, good.length - 10));
    const fresh = new Trainer({ model: mlp({ seed: 2 }), loss: 'categoricalCrossentropy', ...sgd() });
    const bits = await weightBits(fresh.model);
    const before = tf.memory().numTensors;
    await expectCode(loadCheckpoint(fresh, join(dir, 'flipped.ckpt')), 'CHECKPOINT_CORRUPT', /fails its checksum/);
    await expectCode(loadCheckpoint(fresh, join(dir, 'short.ckpt')), 'CHECKPOINT_CORRUPT', /wrong length/);
    await expectCode(loadCheckpoint(fresh, join(dir, 'missing.ckpt')), 'CHECKPOINT_CORRUPT', /Cannot read/);
    expect(tf.memory().numTensors).toBe(before);

    const wider = new Trainer({ model: mlp({ seed: 2, hidden: 12 }), loss: 'categoricalCrossentropy', ...sgd() });
    const other = new Trainer({ model: mlp({ seed: 2 }), loss: 'categoricalCrossentropy', ...adamw() });
    const noMomentum = new Trainer({ model: mlp({ seed: 2 }), loss: 'categoricalCrossentropy', ...sgd({ momentum: 0 }) });
    const before2 = tf.memory().numTensors;
    const wb = await weightBits(wider.model);
    await expectCode(loadCheckpoint(wider, path), 'CHECKPOINT_MISMATCH', /Checkpoint variable "dense_Dense\d+\/kernel" does not fit/);
    await expectCode(loadCheckpoint(other, path), 'CHECKPOINT_MISMATCH', /different composition \(updateRule\)/);
    // Fails only after the weights were written: the rollback restores them.
    const nb = await weightBits(noMomentum.model);
    await expectCode(loadCheckpoint(noMomentum, path), 'CHECKPOINT_MISMATCH', /updateRule state does not fit/);
    expect(await weightBits(fresh.model)).toEqual(bits);
    expect(await weightBits(wider.model)).toEqual(wb);
    expect(await weightBits(noMomentum.model)).toEqual(nb);
    expect(tf.memory().numTensors).toBe(before2);
    await loadCheckpoint(fresh, path);
    expect(await weightBits(fresh.model)).toEqual(await weightBits(t.model));
    for (const tr of [t, fresh, wider, other, noMomentum]) tr.dispose();
    tf.dispose([x, y]);
  });

  it('a KFAC state of the other damping mode: the inverse cache is rebuilt by loadCheckpoint(), or by the next step after fromCheckpointBytes()', async () => {
    const make = (mode: 'pi' | 'eigen', seed: number) =>
      new Trainer({ model: mlp({ seed }), loss: 'categoricalCrossentropy', ...kfac({ learningRate: 0.01, damping: 0.01, curvature: kfacCurvature({ damping: mode }) }), seed: 5 });
    const a = make('pi', 7);
    for (let i = 0; i < 3; i++) {
      const { x, y } = batch(i);
      await a.step(x, y);
      tf.dispose([x, y]);
    }
    const path = join(dir, 'pi.ckpt');
    await saveCheckpoint(a, path);
    const { x, y } = batch(3);
    // The same continuation twice: after loadCheckpoint() (rebuilt there) and after fromCheckpointBytes()
    // (rebuilt at the start of the step). Without the rebuild the eigen-mode estimator refuses to
    // precondition ("must be rebuilt").
    const viaLoad = make('eigen', 99);
    await loadCheckpoint(viaLoad, path);
    expect(viaLoad.curvature?.pendingRefresh).toBeNull();
    expect((await viaLoad.step(x, y)).skipped).toBe(false);
    const viaBytes = make('eigen', 98);
    viaBytes.fromCheckpointBytes(new Uint8Array(await readFile(path)));
    expect(viaBytes.curvature?.pendingRefresh).toBe(0.01);
    expect((await viaBytes.step(x, y)).skipped).toBe(false);
    expect(viaBytes.curvature?.pendingRefresh).toBeNull();
    expect(await weightBits(viaBytes.model)).toEqual(await weightBits(viaLoad.model));
    // The rebuilt cache is the estimator's; later steps leave numTensors as they find it.
    const before = tf.memory().numTensors;
    await viaBytes.step(x, y);
    expect(tf.memory().numTensors).toBe(before);
    for (const t of [a, viaLoad, viaBytes]) t.dispose();
    tf.dispose([x, y]);
  });

  it('canonical names survive tfjs renaming and never match inside longer names', () => {
    const a = new NameCanonicalizer(['h/kernel_1', 'h/bias_1', 'dense_1/kernel', 'dense_10/kernel'], ['h', 'dense_1', 'dense_10']);
    expect(a.canonical('m/h/kernel_1')).toBe('m/@v0');
    expect(a.canonical('A/dense_10')).toBe('A/@l2');
    expect(a.canonical('A/dense_1')).toBe('A/@l1');
    expect(a.canonical('dense_10/kernel')).toBe('@v3');
    const b = new NameCanonicalizer(['h/kernel', 'h/bias', 'dense_5/kernel', 'dense_50/kernel'], ['h', 'dense_5', 'dense_50']);
    expect(b.local(a.canonical('m/h/kernel_1'))).toBe('m/h/kernel');
    expect(b.local(a.canonical('A/dense_10'))).toBe('A/dense_50');
  });
});
