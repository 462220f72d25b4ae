/**
 * The run folder end to end, in process (wasm, 64 training examples, 2 steps per epoch): a damaged
 * run folder is refused at resume with the file named and not one byte changed; a second writer is
 * refused with exit 4; the progress comes from the checkpoint (progress.json is a mirror that is
 * never read); a run whose steps are all skipped stops with exit 3 without checkpointing the bad
 * epoch; the best epoch's checkpoint is kept next to the last one.
 */
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { readCheckpointFileProgress } from '@natgrad/trainer/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../commands/output';
import { main } from '../main';
import { LOCK_FILE, processStartTime } from './run-lock';
import type { Trainer } from '@natgrad/trainer';
import { ProgressBar } from './progress';
import { runPaths } from './run-dir';
import { RunRecorder, divergence } from './run-recorder';
import { snapshot } from './test-support';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-runfolder-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// A constant learning rate: these tests extend a run with --resume --epochs N+1 and compare it with
// an uninterrupted N+1-epoch run, which only a horizon-free schedule makes the same trajectory (the
// default cosine schedule's horizon is the run's length, so extending the run changes it).
const TINY = ['--backend', 'wasm', '--train-size', '64', '--test-size', '32', '--batch', '32', '--seed', '3', '--lr-schedule', 'constant'];

async function run(argv: string[]) {
  const out = memoryOutput();
  const code = await main(argv, out);
  return { code, stdout: out.out.join(''), stderr: out.err.join('') };
}

const endEvent = (stdout: string) =>
  stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .find((e) => e.event === 'end') as Record<string, unknown> & { runDir: string };


const epochsOf = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).epoch as number);

let base: string;
let copies = 0;
/** A fresh copy of the one-epoch run. */
const copyRun = () => {
  const d = join(tmp, `copy-${copies++}`);
  cpSync(base, d, { recursive: true });
  return d;
};

beforeAll(async () => {
  const first = await run(['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', join(tmp, 'runs'), '--name', 'base']);
  expect(first.code, first.stderr).toBe(0);
  base = endEvent(first.stdout).runDir;
}, 60_000);

describe('resume refuses a damaged run folder and writes nothing', () => {
  const editConfig = (dir: string, edit: (c: Record<string, unknown>) => void) => {
    const file = join(dir, 'config.json');
    const stored = JSON.parse(readFileSync(file, 'utf8'));
    edit(stored.config);
    writeFileSync(file, JSON.stringify(stored));
  };
  const ckpt = (dir: string) => join(dir, 'checkpoint', 'trainer.ckpt');
  const cases: { name: string; damage: (dir: string) => void; file: string; message: RegExp }[] = [
    { name: 'empty config.json', damage: (d) => writeFileSync(join(d, 'config.json'), ''), file: 'config.json', message: /Unreadable .*config\.json/ },
    { name: 'batch -5', damage: (d) => editConfig(d, (c) => (c.batch = -5)), file: 'config.json', message: /"batch": "-5" is not an integer >= 2/ },
    { name: 'optimizer "nope"', damage: (d) => editConfig(d, (c) => (c.optimizer = 'nope')), file: 'config.json', message: /"optimizer": "nope" is not allowed/ },
    { name: 'epochs "abc"', damage: (d) => editConfig(d, (c) => (c.epochs = 'abc')), file: 'config.json', message: /"epochs": "abc" is not a number/ },
    { name: 'a missing key', damage: (d) => editConfig(d, (c) => delete c.lr), file: 'config.json', message: /"lr" is missing/ },
    { name: 'a truncated checkpoint', damage: (d) => writeFileSync(ckpt(d), readFileSync(ckpt(d)).subarray(0, 500)), file: 'trainer.ckpt', message: /trainer\.ckpt/ },
    {
      name: 'an edited step in the checkpoint header',
      damage: (d) => {
        const bytes = readFileSync(ckpt(d));
        const text = bytes.toString('latin1');
        const at = text.indexOf('"step":2');
        expect(at).toBeGreaterThan(0);
        bytes[at + 7] = '9'.charCodeAt(0);
        writeFileSync(ckpt(d), bytes);
      },
      file: 'trainer.ckpt',
      message: /trainer\.ckpt/,
    },
    { name: 'no checkpoint', damage: (d) => rmSync(ckpt(d)), file: 'trainer.ckpt', message: /has no complete checkpoint to resume from/ },
    {
      name: 'a broken metrics.jsonl line',
      damage: (d) => writeFileSync(join(d, 'metrics.jsonl'), `{"epoch":1,"testAccuracy":0.1,"elapsedSeconds":1\n${readFileSync(join(d, 'metrics.jsonl'), 'utf8')}`),
      file: 'metrics.jsonl',
      message: /Corrupt metrics file/,
    },
  ];
  for (const c of cases) {
    it(`${c.name}: exit 1, the file named, the folder unchanged`, async () => {
      const dir = copyRun();
      c.damage(dir);
      const before = snapshot(dir);
      const r = await run(['train', '--resume', dir, '--epochs', '2']);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr).toContain(c.file);
      expect(r.stderr).toMatch(c.message);
      expect(r.stderr).toMatch(/fix: /);
      expect(snapshot(dir)).toEqual(before);
    }, 30_000);
  }

  it('a run folder held by a live process: exit 4 naming the owner, nothing written', async () => {
    const dir = copyRun();
    writeFileSync(
      join(dir, LOCK_FILE),
      JSON.stringify({ pid: process.ppid, host: (await import('node:os')).hostname(), startedAt: 'x', processStart: processStartTime(process.ppid), token: 't', command: 'natgrad train' }),
    );
    const before = snapshot(dir);
    const r = await run(['train', '--resume', dir, '--epochs', '2', '--json']);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`in use by another natgrad process (pid ${process.ppid}`);
    expect(r.stdout).toContain('"event":"error"');
    expect(snapshot(dir)).toEqual(before);
  });
});

describe('resume state', () => {
  it('two resumes at once: one runs, the other is refused with exit 4; each epoch is logged once', async () => {
    const dir = copyRun();
    const [a, b] = await Promise.all([run(['train', '--resume', dir, '--epochs', '3']), run(['train', '--resume', dir, '--epochs', '3'])]);
    expect([a.code, b.code].sort()).toEqual([0, 4]);
    expect((a.code === 4 ? a : b).stderr).toContain('natgrad train --resume');
    expect(epochsOf(dir)).toEqual([1, 2, 3]);
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
  }, 60_000);

  it('a resumed run writes the same checkpoint bytes and the same metrics (timings aside) as an uninterrupted one', async () => {
    const dir = copyRun();
    const resumed = await run(['train', '--resume', dir, '--epochs', '2']);
    expect(resumed.code, resumed.stderr).toBe(0);
    const whole = await run(['train', ...TINY, '--epochs', '2', '--json', '--runs-dir', join(tmp, 'runs-whole'), '--name', 'base']);
    expect(whole.code, whole.stderr).toBe(0);
    const wholeDir = endEvent(whole.stdout).runDir;
    // Byte for byte but for the model's variable names, which tfjs makes unique within a process
    // (conv1/kernel_1, conv1/kernel_2: two runs here share one process) and the whole-file CRC that
    // covers them; between processes the files are identical.
    const parts = (file: string) => {
      const bytes = readFileSync(file);
      const headerEnd = 12 + bytes.readUInt32LE(8);
      const header = bytes.subarray(12, headerEnd).toString('utf8').replace(/"name":"([^"]*?)_\d+"/g, '"name":"$1"');
      return { header, body: bytes.subarray(headerEnd, bytes.length - 4) };
    };
    for (const f of ['trainer.ckpt', 'best.ckpt']) {
      const a = parts(join(dir, 'checkpoint', f));
      const b = parts(join(wholeDir, 'checkpoint', f));
      expect(a.header, f).toBe(b.header);
      expect(a.body.equals(b.body), f).toBe(true);
    }
    const untimed = (d: string) =>
      readFileSync(join(d, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => {
          const { epochSeconds, elapsedSeconds, samplesPerSecond, time, ...rest } = JSON.parse(l);
          return rest;
        });
    expect(untimed(dir)).toEqual(untimed(wholeDir));
  }, 60_000);

  it('takes the progress from the checkpoint: a damaged progress.json, a torn metrics line and a stale temp do not matter', async () => {
    const dir = copyRun();
    writeFileSync(join(dir, 'checkpoint', 'progress.json'), '');
    writeFileSync(join(dir, 'checkpoint', 'trainer.ckpt.tmp-999999-abc'), '');
    writeFileSync(join(dir, 'config.json.tmp-999999'), '{');
    // An epoch 2 logged after the checkpoint of epoch 1, then an append killed midway.
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8');
    writeFileSync(join(dir, 'metrics.jsonl'), `${metrics}${metrics.replace('"epoch":1', '"epoch":2')}{"epoch":3,"tr`);
    const r = await run(['train', '--resume', dir, '--epochs', '2', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('"resumedFromEpoch":1');
    expect(epochsOf(dir)).toEqual([1, 2]);
    expect(readdirSync(join(dir, 'checkpoint'))).not.toContain('trainer.ckpt.tmp-999999-abc');
    expect(readdirSync(dir)).not.toContain('config.json.tmp-999999');
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint', 'progress.json'), 'utf8'))).toMatchObject({ epoch: 2 });
    expect(await readCheckpointFileProgress(join(dir, 'checkpoint', 'trainer.ckpt'))).toMatchObject({ epoch: 2, step: 4 });
  }, 60_000);

  it('keeps the best epoch checkpoint next to the last one and names it in summary.json', async () => {
    const r = await run(['train', ...TINY, '--epochs', '3', '--json', '--runs-dir', join(tmp, 'runs-best'), '--lr', '0.05']);
    expect(r.code, r.stderr).toBe(0);
    const dir = endEvent(r.stdout).runDir;
    const records = readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { epoch: number; testAccuracy: number });
    const best = records.reduce((a, b) => (b.testAccuracy > a.testAccuracy ? b : a));
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary).toMatchObject({ status: 'done', bestEpoch: best.epoch, bestAccuracy: best.testAccuracy, bestCheckpoint: join(dir, 'checkpoint', 'best.ckpt'), skippedSteps: 0 });
    expect(await readCheckpointFileProgress(join(dir, 'checkpoint', 'best.ckpt'))).toMatchObject({ epoch: best.epoch, best: { epoch: best.epoch } });
    expect(await readCheckpointFileProgress(join(dir, 'checkpoint', 'trainer.ckpt'))).toMatchObject({ epoch: 3 });
  }, 60_000);
});

describe('divergence', () => {
  it('names the reason: every step skipped, a non-finite train or test loss', () => {
    expect(divergence({ trainLoss: 1, testLoss: 1 }, 2, 2)).toMatch(/every step of the epoch was skipped \(2\/2/);
    expect(divergence({ trainLoss: Number.NaN, testLoss: 1 }, 1, 2)).toMatch(/train loss is NaN/);
    expect(divergence({ trainLoss: 1, testLoss: Number.POSITIVE_INFINITY }, 0, 2)).toMatch(/test loss is Infinity/);
    expect(divergence({ trainLoss: 1, testLoss: 1 }, 1, 2)).toBeNull();
  });

  const stubRecorder = (trainer: Record<string, unknown>, warnings: string[], lines: string[]) => {
    const dir = mkdtempSync(join(tmp, 'stub-'));
    return new RunRecorder({
      trainer: trainer as unknown as Trainer,
      paths: runPaths(dir),
      lock: { file: '', owner: {} as never, replaced: null, verify: () => {}, release: () => {} },
      epochs: 2,
      stepsPerEpoch: 4,
      targetAccuracy: null,
      plotTitle: 't',
      start: null,
      startSeconds: 0,
      records: [],
      evaluate: async () => ({ loss: 1, accuracy: 0.5 }),
      progressBar: new ProgressBar({ write: () => {} }),
      emit: (_e, text) => lines.push(text ?? ''),
      warn: (_e, text) => warnings.push(text),
      remedy: 'lower --lr (now 0.1) or raise --damping (now 0.01)',
    });
  };

  it('a trainer state the library refuses to save (non-finite) stops the run as diverged, with nothing checkpointed', async () => {
    const trainer = {
      epoch: 0,
      stepCount: 4,
      stopTraining: false,
      currentLearningRate: () => 0.1,
      toCheckpointBytes: async () => {
        throw new NatgradError('NON_FINITE_INPUT', 'Trainer state holds non-finite values; the checkpoint was not written.', { expected: 'finite', received: 'curvature/dense/A: 12 non-finite', fix: 'x' });
      },
    };
    const recorder = stubRecorder(trainer, [], []);
    recorder.onEpochBegin();
    await recorder.onEpochEnd(0, { loss: 1, skippedSteps: 0, lr: 0.1 });
    expect(recorder.diverged).toBe('the trainer state holds non-finite values (curvature/dense/A: 12 non-finite)');
    expect(trainer.stopTraining).toBe(true);
    expect(recorder.finish('cpu')).toMatchObject({ status: 'diverged', bestEpoch: null });
  });

  it('warns when an epoch skipped most of its steps, and keeps training', async () => {
    const warnings: string[] = [];
    const lines: string[] = [];
    const trainer = { epoch: 0, stepCount: 4, stopTraining: false, currentLearningRate: () => 0.1, toCheckpointBytes: async () => new Uint8Array([1, 2, 3]) };
    const recorder = stubRecorder(trainer, warnings, lines);
    recorder.onEpochBegin();
    for (let i = 0; i < 4; i++) await recorder.onBatchEnd(i, { size: 8, loss: i === 0 ? 1 : Number.NaN, skipped: i === 0 ? 0 : 1, damping: 0.01 });
    await recorder.onEpochEnd(0, { loss: 1, skippedSteps: 3, lr: 0.1 });
    expect(lines[0]).toContain('skipped 3/4 steps, damping raised 3x');
    expect(warnings).toEqual(['natgrad: warning: epoch 1 skipped 3 of 4 steps (non-finite loss, gradient or update); the run is close to diverging: lower --lr (now 0.1) or raise --damping (now 0.01)']);
    expect(trainer.stopTraining).toBe(false);
    expect(recorder.finish('cpu')).toMatchObject({ status: 'done', skippedSteps: 3, dampingBoosts: 3, bestEpoch: 1 });
  });

  it('a run whose steps are all skipped stops with exit 3, shows the skipped steps and keeps the last good checkpoint', async () => {
    const r = await run(['train', ...TINY, '--optimizer', 'sgd', '--lr', '1e30', '--epochs', '4', '--runs-dir', join(tmp, 'runs-div')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/epoch 2\/4 .*skipped 2\/2 steps/);
    expect(r.stdout).toMatch(/^diverged: /m);
    expect(r.stderr).toContain('training stopped making progress at epoch 2: every step of the epoch was skipped');
    expect(r.stderr).toContain('lower --lr (now 1e+30)');
    const dir = join(tmp, 'runs-div', readdirSync(join(tmp, 'runs-div'))[0]);
    const metrics = readFileSync(join(dir, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(metrics.map((m) => [m.epoch, m.skippedSteps])).toEqual([
      [1, 1],
      [2, 2],
    ]);
    expect(readFileSync(join(dir, 'metrics.csv'), 'utf8').split('\n')[0]).toContain('skippedSteps,dampingBoosts,damping');
    expect(JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'))).toMatchObject({ status: 'diverged', skippedSteps: 3, epochs: 2 });
    expect(await readCheckpointFileProgress(join(dir, 'checkpoint', 'trainer.ckpt'))).toMatchObject({ epoch: 1 });
  }, 60_000);

  it('KFAC at lr 1e6: damping boosts in the epoch line, the metrics and summary.json', async () => {
    const r = await run(['train', ...TINY, '--optimizer', 'kfac', '--lr', '1e6', '--epochs', '3', '--runs-dir', join(tmp, 'runs-kfac')]);
    expect(r.code, r.stderr).toBe(3);
    expect(r.stdout).toMatch(/skipped 2\/2 steps, damping raised 2x/);
    const dir = join(tmp, 'runs-kfac', readdirSync(join(tmp, 'runs-kfac'))[0]);
    const summary = JSON.parse(readFileSync(join(dir, 'summary.json'), 'utf8'));
    expect(summary.status).toBe('diverged');
    expect(summary.dampingBoosts).toBeGreaterThanOrEqual(2);
  }, 60_000);
});
