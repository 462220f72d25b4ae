import { mkdtemp, readFile, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type JsonValue, NatgradError } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeCheckpoint, encodeCheckpoint } from './checkpoint-format';
import { fop } from './presets';
import { blobs, mlp, weightBits } from './testing/problems';
import { Trainer } from './trainer';
import { readCheckpointProgress } from './trainer-checkpoint';
import { loadCheckpoint, readCheckpointFileProgress, saveCheckpoint } from './node/index';

let dir: string;
let data: ReturnType<typeof blobs>;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'natgrad-integrity-'));
  data = blobs({ n: 32, seed: 4, classes: 3, dims: 4 });
});
afterAll(async () => {
  tf.dispose([data.x, data.y]);
  await rm(dir, { recursive: true, force: true });
});

function trainer(seed: number): Trainer {
  return new Trainer({ model: mlp({ seed }), loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.01, damping: 0.01 }), seed: 5 });
}

async function trained(seed: number, steps = 2): Promise<Trainer> {
  const t = trainer(seed);
  for (let i = 0; i < steps; i++) await t.step(data.x, data.y);
  return t;
}

async function thrown(p: Promise<unknown> | (() => unknown)): Promise<NatgradError> {
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (err) {
    expect(err).toBeInstanceOf(NatgradError);
    return err as NatgradError;
  }
  return expect.unreachable('should have thrown');
}

/** Re-encodes a checkpoint after `edit` changed its meta or tensors: every checksum is valid again. */
async function reencode(bytes: Uint8Array, edit: (meta: Record<string, JsonValue>, tensors: Record<string, tf.Tensor>) => void | Promise<void>): Promise<Uint8Array> {
  const { meta, tensors } = decodeCheckpoint(bytes);
  try {
    await edit(meta as Record<string, JsonValue>, tensors);
    return await encodeCheckpoint(meta, tensors);
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

describe('checkpoint integrity', () => {
  it('stores the caller\'s progress record in the checksummed bytes and gives it back on restore', async () => {
    const a = await trained(1);
    const progress = { epoch: 2, metricsLines: 2, settings: { batch: 32, lr: 0.01 } };
    const bytes = await a.toCheckpointBytes({ progress });
    expect(readCheckpointProgress(bytes)).toEqual(progress);
    expect(readCheckpointProgress(await a.toCheckpointBytes())).toBeNull();

    const b = trainer(2);
    expect(await b.restoreCheckpoint(bytes)).toEqual(progress);
    expect(await weightBits(b.model)).toEqual(await weightBits(a.model));

    const path = join(dir, 'progress.ckpt');
    await saveCheckpoint(a, path, { progress });
    expect(await readCheckpointFileProgress(path)).toEqual(progress);
    const c = trainer(3);
    expect(await loadCheckpoint(c, path)).toEqual(progress);
    for (const t of [a, b, c]) t.dispose();
  });

  it('restores from a Node Buffer that is an unaligned view into a larger pool (readFileSync hands out such views)', async () => {
    const a = await trained(1);
    const bytes = await a.toCheckpointBytes({ progress: { epoch: 1 } });
    // One byte in front: every float32 tensor then starts at an odd offset of the underlying pool.
    const pooled = Buffer.concat([Buffer.from([7]), Buffer.from(bytes)]).subarray(1);
    expect(pooled.byteOffset % 4).not.toBe(0);
    const b = trainer(2);
    expect(await b.restoreCheckpoint(pooled)).toEqual({ epoch: 1 });
    expect(await weightBits(b.model)).toEqual(await weightBits(a.model));
    for (const t of [a, b]) t.dispose();
  });

  it('refuses a header whose step was edited from 100 to 900, naming the file, and leaves the trainer unchanged', async () => {
    const a = await trained(1);
    const at100 = await reencode(await a.toCheckpointBytes({ progress: { epoch: 1 } }), (meta) => {
      (meta.trainer as Record<string, JsonValue>).step = 100;
    });
    const b = trainer(2);
    await b.restoreCheckpoint(at100); // the re-encoded file itself is valid
    expect(b.stepCount).toBe(100);

    const text = Buffer.from(at100).toString('latin1');
    expect(text.split('"step":100').length).toBe(2);
    const edited = Buffer.from(text.replace('"step":100', '"step":900'), 'latin1');
    const path = join(dir, 'edited.ckpt');
    await writeFile(path, edited);

    const c = trainer(3);
    const bits = await weightBits(c.model);
    const before = tf.memory().numTensors;
    const err = await thrown(loadCheckpoint(c, path));
    expect(err.code).toBe('CHECKPOINT_CORRUPT');
    expect(err.message).toContain(path);
    expect(err.message).toMatch(/header or the tensors were edited/);
    expect(() => readCheckpointProgress(new Uint8Array(edited))).toThrow(/fails its checksum/);
    expect(c.stepCount).toBe(0);
    expect(await weightBits(c.model)).toEqual(bits);
    expect(tf.memory().numTensors).toBe(before);
    for (const t of [a, b, c]) t.dispose();
  });

  it('refuses to save non-finite weights, naming the tensor and the count', async () => {
    const a = await trained(1);
    const w = a.model.weights[0];
    const shape = w.shape as number[];
    const original = tf.clone(w.read());
    const poisoned = tf.tidy(() => tf.where(tf.less(tf.randomUniform(shape, 0, 1, 'float32', 3), 0.5), tf.fill(shape, Number.POSITIVE_INFINITY), original));
    const expectedBad = (await tf.sum(tf.cast(tf.isInf(poisoned), 'int32')).data())[0];
    expect(expectedBad).toBeGreaterThan(0);
    w.write(poisoned);
    const before = tf.memory().numTensors;
    const path = join(dir, 'diverged.ckpt');
    const err = await thrown(saveCheckpoint(a, path));
    expect(err.code).toBe('NON_FINITE_INPUT');
    expect(err.message).toContain(path);
    expect(err.message).toContain(`"model/${w.name}" (${expectedBad} of ${original.size} entries)`);
    expect(tf.memory().numTensors).toBe(before);
    expect(await readdir(dir)).not.toContain('diverged.ckpt');
    w.write(original);
    tf.dispose([original, poisoned]);
    a.dispose();
  });

  it('refuses to restore a checkpoint whose curvature factor holds Inf, naming it, before changing anything', async () => {
    const a = await trained(1, 3);
    const good = await a.toCheckpointBytes();
    const decoded = decodeCheckpoint(good);
    tf.dispose(Object.values(decoded.tensors));
    const factorKey = Object.keys(decoded.tensors).find((k) => k.startsWith('curvature/') && decoded.tensors[k].size > 1) ?? '';
    expect(factorKey).not.toBe('');
    const bad = await reencode(good, async (_meta, tensors) => {
      const t = tensors[factorKey];
      const values = Float32Array.from(await t.data());
      values[0] = Number.POSITIVE_INFINITY;
      values[values.length - 1] = Number.NaN;
      tensors[factorKey] = tf.tensor(values, t.shape);
      t.dispose();
    });
    const b = trainer(2);
    await b.step(data.x, data.y);
    const bits = await weightBits(b.model);
    const before = tf.memory().numTensors;
    const err = await thrown(b.restoreCheckpoint(bad));
    expect(err.code).toBe('NON_FINITE_INPUT');
    expect(err.message).toMatch(/\(2 of \d+ entries\)/);
    // Named in the model's own layer names (positional tokens mapped back), e.g. "curvature/dense_Dense1/A".
    expect(err.message).toMatch(/"curvature\/[^"@]+" \(2 of \d+ entries\)/);
    expect(b.stepCount).toBe(1);
    expect(await weightBits(b.model)).toEqual(bits);
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });

  it('saving into a missing folder names the folder, not a temp file', async () => {
    const a = trainer(1);
    const path = join(dir, 'no-such-folder', 'x.ckpt');
    const err = await thrown(saveCheckpoint(a, path));
    expect(err.message).toContain(join(dir, 'no-such-folder'));
    expect(err.message).toMatch(/folder does not exist/);
    expect(err.message).not.toMatch(/\.tmp-/);
    a.dispose();
  });

  it('a save removes temps left by killed saves of the same file, and keeps other files', async () => {
    const sub = await mkdtemp(join(dir, 'temps-'));
    const path = join(sub, 'trainer.ckpt');
    // A dead writer's pid (far above any pid_max) and our own pid from an earlier, killed save.
    const stale = [`trainer.ckpt.tmp-999999999-abc`, `trainer.ckpt.tmp-${process.pid}-old-0`];
    for (const s of stale) await writeFile(join(sub, s), new Uint8Array(0));
    await writeFile(join(sub, 'other.ckpt.tmp-999999999-abc'), new Uint8Array(0));
    await writeFile(join(sub, 'notes.txt'), 'keep');
    const old = new Date(Date.now() - 60_000);
    for (const s of stale) await utimes(join(sub, s), old, old);
    const a = trainer(1);
    await saveCheckpoint(a, path);
    expect((await readdir(sub)).sort()).toEqual(['notes.txt', 'other.ckpt.tmp-999999999-abc', 'trainer.ckpt']);
    expect((await readFile(path)).length).toBeGreaterThan(0);
    a.dispose();
  });
});

describe('checkpoints whose tensors do not fit (valid checksums, edited content)', () => {
  it('a transposed weight prints both shapes; an edited dtype is a NatgradError, not a raw tfjs error', async () => {
    const a = await trained(1);
    const good = await a.toCheckpointBytes();
    const kernel = a.model.weights.findIndex((w) => w.shape.length === 2 && w.shape[0] !== w.shape[1]);
    const [rows, cols] = a.model.weights[kernel].shape as number[];
    const transposed = await reencode(good, (_meta, tensors) => {
      const t = tensors[`model/@v${kernel}`];
      tensors[`model/@v${kernel}`] = tf.transpose(t);
      t.dispose();
    });
    const asInt = await reencode(good, (_meta, tensors) => {
      const t = tensors[`model/@v${kernel}`];
      tensors[`model/@v${kernel}`] = tf.cast(t, 'int32');
      t.dispose();
    });
    const decoded = decodeCheckpoint(good);
    tf.dispose(Object.values(decoded.tensors));
    const slotKey = Object.keys(decoded.tensors).find((k) => k.startsWith('updateRule/')) ?? '';
    expect(slotKey).not.toBe('');
    const slotAsInt = await reencode(good, (_meta, tensors) => {
      const t = tensors[slotKey];
      tensors[slotKey] = tf.cast(t, 'int32');
      t.dispose();
    });
    const b = trainer(2);
    const bits = await weightBits(b.model);
    const before = tf.memory().numTensors;
    const t1 = await thrown(b.restoreCheckpoint(transposed));
    expect(t1.code).toBe('CHECKPOINT_MISMATCH');
    expect(t1.expected).toContain(`[${rows},${cols}]`);
    expect(t1.received).toContain(`stored as float32 [${cols},${rows}]`);
    expect(t1.expected).not.toBe(t1.received);
    const t2 = await thrown(b.restoreCheckpoint(asInt));
    expect(t2.code).toBe('CHECKPOINT_MISMATCH');
    expect(t2.message).toMatch(/wrong dtype/);
    expect(t2.received).toContain('stored as int32');
    const t3 = await thrown(b.restoreCheckpoint(slotAsInt));
    expect(t3.code).toBe('CHECKPOINT_MISMATCH');
    expect(t3.received).toMatch(/wrong dtype/);
    expect(await weightBits(b.model)).toEqual(bits);
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
    b.dispose();
  });
});
