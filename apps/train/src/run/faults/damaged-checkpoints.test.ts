/**
 * Damaged run folders the checksums alone cannot catch (#11 items 2-4, for the fault-injection
 * corpus beside run-folder.test.ts's): each checkpoint here is re-encoded with valid checksums, as a
 * buggy writer or a deliberate edit would leave it. Non-finite KFAC factors or weights (the state
 * lr 1e6 once saved and --resume accepted), a progress record with a negative or non-numeric epoch,
 * a step that disagrees with the trainer state, a config.json epoch of -3: each resume must fail
 * with exit 1, name the file, give a fix, and leave every byte of the folder as it was.
 */
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { JsonValue } from '@natgrad/core';
import { decodeCheckpoint, encodeCheckpoint } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../../commands/output';
import { main } from '../../main';
import { snapshot } from '../test-support';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-damaged-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--backend', 'wasm', '--train-size', '64', '--test-size', '32', '--batch', '32', '--seed', '3', '--lr-schedule', 'constant'];

async function run(argv: string[]) {
  const out = memoryOutput();
  const code = await main(argv, out);
  return { code, stdout: out.out.join(''), stderr: out.err.join('') };
}


let base: string;
let copies = 0;
const copyRun = () => {
  const d = join(tmp, `copy-${copies++}`);
  cpSync(base, d, { recursive: true });
  return d;
};

beforeAll(async () => {
  const r = await run(['train', ...TINY, '--optimizer', 'kfac', '--epochs', '1', '--runs-dir', join(tmp, 'runs')]);
  expect(r.code, r.stderr).toBe(0);
  base = join(tmp, 'runs', readdirSync(join(tmp, 'runs'))[0]);
}, 60_000);

/** Rewrites trainer.ckpt through the library's own encoder, so every checksum is valid again. */
async function reencode(dir: string, edit: (meta: Record<string, JsonValue>, tensors: Record<string, tf.Tensor>) => void) {
  const file = join(dir, 'checkpoint', 'trainer.ckpt');
  // A plain Uint8Array copy: decodeCheckpoint given a Node Buffer fails (Buffer.slice is a view; reported).
  const { meta, tensors } = decodeCheckpoint(new Uint8Array(readFileSync(file)));
  try {
    edit(meta as Record<string, JsonValue>, tensors);
    writeFileSync(file, await encodeCheckpoint(meta, tensors));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** Replaces a tensor by one holding `value` in its first entry. */
function poison(tensors: Record<string, tf.Tensor>, key: string, value: number) {
  const t = tensors[key];
  expect(t, `tensor ${key}`).toBeDefined();
  const data = t.dataSync().slice();
  data[0] = value;
  t.dispose();
  tensors[key] = tf.tensor(data, t.shape, t.dtype);
}

const progress = (meta: Record<string, JsonValue>) => meta.progress as Record<string, JsonValue>;

describe('resume refuses state the checksums cannot catch, and writes nothing', () => {
  const cases: { name: string; damage: (dir: string) => Promise<void> | void; file: string; message: RegExp }[] = [
    {
      name: 'Infinity in a KFAC factor',
      damage: (d) => reencode(d, (_m, t) => poison(t, 'curvature/@l1/A', Number.POSITIVE_INFINITY)),
      file: 'trainer.ckpt',
      message: /non-finite[\s\S]*"curvature\/conv2\/A" \(1 of 21025 entries\)/i,
    },
    {
      name: 'NaN in a weight',
      damage: (d) => reencode(d, (_m, t) => poison(t, 'model/@v4', Number.NaN)),
      file: 'trainer.ckpt',
      message: /non-finite[\s\S]*"model\/logits\/kernel(_\d+)?" \(1 of 2880 entries\)/i,
    },
    { name: 'progress epoch -3', damage: (d) => reencode(d, (m) => (progress(m).epoch = -3)), file: 'trainer.ckpt', message: /Invalid run progress[\s\S]*received: epoch: -3/ },
    { name: 'progress epoch "abc"', damage: (d) => reencode(d, (m) => (progress(m).epoch = 'abc')), file: 'trainer.ckpt', message: /Invalid run progress[\s\S]*received: epoch: "abc"/ },
    { name: 'progress step 900 (trainer at 2)', damage: (d) => reencode(d, (m) => (progress(m).step = 900)), file: 'trainer.ckpt', message: /progress epoch 1, step 900; trainer epoch 1, step 2/ },
    {
      name: 'config.json epochs -3',
      damage: (d) => {
        const file = join(d, 'config.json');
        const stored = JSON.parse(readFileSync(file, 'utf8'));
        stored.config.epochs = -3;
        writeFileSync(file, JSON.stringify(stored));
      },
      file: 'config.json',
      message: /"epochs": "-3"/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 1, the file named, the folder unchanged`, async () => {
      const dir = copyRun();
      await c.damage(dir);
      const before = snapshot(dir);
      const memory = tf.memory().numTensors;
      const r = await run(['train', '--resume', dir, '--epochs', '2']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(c.file);
      expect(r.stderr).toMatch(c.message);
      expect(r.stderr).toMatch(/fix: /);
      expect(snapshot(dir)).toEqual(before);
      expect(tf.memory().numTensors).toBe(memory);
    }, 30_000);
  }
});
