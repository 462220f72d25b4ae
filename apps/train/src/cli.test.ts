/**
 * The CLI end to end, in process, on the wasm backend with tiny subsets (a few seconds each):
 * train writes a complete run folder, --json keeps stdout machine-readable, resume continues a
 * run exactly where an uninterrupted one would be, bad flags and unavailable backends give one
 * clear message, other datasets load through --data-dir, and compare renders runs.
 */
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryOutput } from './commands/output';
import { writeCifarDataset, writeIdxDataset } from './data/fixtures.test-util';
import { main } from './main';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-cli-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

// The default cadences (inverses every 10 steps) on purpose: with 2 steps per epoch the resume point
// lies between two inverse refreshes, so resume must restore the checkpointed inverse cache.
// A constant learning rate: these tests extend a run with --resume --epochs N+1 and compare it with
// an uninterrupted N+1-epoch run, which only a horizon-free schedule makes the same trajectory (the
// default cosine schedule's horizon is the run's length, so extending the run changes it).
const TINY = ['--backend', 'wasm', '--train-size', '64', '--test-size', '32', '--batch', '32', '--seed', '3', '--lr-schedule', 'constant'];

async function run(argv: string[]) {
  const out = memoryOutput();
  const code = await main(argv, out);
  const stdout = out.out.join('');
  const stderr = out.err.join('');
  return { code, stdout, stderr };
}

function jsonEvents(stdout: string): Record<string, unknown>[] {
  const lines = stdout.split('\n').filter((l) => l !== '');
  return lines.map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('natgrad train', () => {
  it('trains FOP on the embedded digits and writes a complete run folder (--json: JSON lines only)', async () => {
    const runs = join(tmp, 'runs-a');
    const { code, stdout, stderr } = await run(['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs, '--target-accuracy', '0.01']);
    expect(code, stderr).toBe(0);
    const events = jsonEvents(stdout);
    expect(events.map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'target', 'end']);
    expect(events[0]).toMatchObject({ name: 'wasm' });
    const end = events[5] as { runDir: string; finalAccuracy: number; targetReached: unknown };
    expect(end.finalAccuracy).toBeGreaterThanOrEqual(0);
    expect(end.targetReached).toEqual({ epoch: 1, seconds: expect.any(Number) });
    for (const f of ['config.json', 'metrics.jsonl', 'metrics.csv', 'plot.svg', 'summary.json', 'checkpoint/trainer.ckpt', 'checkpoint/progress.json']) {
      expect(existsSync(join(end.runDir, f)), f).toBe(true);
    }
    expect(readFileSync(join(end.runDir, 'plot.svg'), 'utf8').startsWith('<svg')).toBe(true);
    const config = JSON.parse(readFileSync(join(end.runDir, 'config.json'), 'utf8'));
    expect(config.config).toMatchObject({ optimizer: 'fop', curvature: 'kfac', projection: 'fop', batch: 32 });
    expect(config.environment.backend).toBe('wasm');
    // The progress bar went to stderr as plain lines (not a TTY here).
    expect(stderr).toContain('epoch 1/1 [');
  });

  it('resumes a run to the same state as an uninterrupted one', async () => {
    const runs = join(tmp, 'runs-resume');
    const first = await run(['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs, '--name', 'split']);
    expect(first.code, first.stderr).toBe(0);
    const dir = (jsonEvents(first.stdout).at(-1) as { runDir: string }).runDir;
    const resumed = await run(['train', '--resume', dir, '--epochs', '2', '--json']);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(jsonEvents(resumed.stdout).find((e) => e.event === 'start')).toMatchObject({ resumedFromEpoch: 1 });
    const whole = await run(['train', ...TINY, '--epochs', '2', '--json', '--runs-dir', runs, '--name', 'whole']);
    const wholeDir = (jsonEvents(whole.stdout).at(-1) as { runDir: string }).runDir;
    const lines = (d: string) => readFileSync(join(d, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    const a = lines(dir);
    const b = lines(wholeDir);
    expect(a.map((r) => r.epoch)).toEqual([1, 2]);
    expect(a[1].step).toBe(b[1].step);
    expect(a[1].trainLoss).toBeCloseTo(b[1].trainLoss, 5);
    expect(a[1].testAccuracy).toBeCloseTo(b[1].testAccuracy, 6);
    // A resume may not change what the run is.
    const bad = await run(['train', '--resume', dir, '--epochs', '3', '--optimizer', 'sgd']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--optimizer: cannot be changed when resuming');
    const done = await run(['train', '--resume', dir, '--epochs', '2']);
    expect(done.stderr).toContain('pass --epochs greater than 2');
  });

  it('rejects bad flags with the flag name and allowed values, also as a JSON error line', async () => {
    const { code, stdout, stderr } = await run(['train', '--optimizer', 'lbfgs', '--epochs', '0', '--json']);
    expect(code).toBe(2);
    expect(stderr).toContain('--optimizer: "lbfgs" is not allowed; allowed values: sgd, adamw, kfac, fop, diagonal, diagonal-fop');
    expect(stderr).toContain('--epochs: "0" is not an integer >= 1');
    expect(jsonEvents(stdout)[0]).toMatchObject({ event: 'error', code: 'INVALID_ARGUMENT' });
    const unknown = await run(['frobnicate']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('commands: train, compare, bundle');
  });

  it('reports an unavailable backend in one message without a stack trace', async () => {
    const { code, stderr } = await run(['train', ...TINY.slice(2), '--backend', 'tensorflow-gpu', '--epochs', '1']);
    expect(code).toBe(1);
    expect(stderr).toContain("--backend tensorflow-gpu: The 'tensorflow-gpu' backend is not available");
    expect(stderr).toContain('CUDA 11.2');
    expect(stderr).toContain('--backend auto');
    expect(stderr).not.toMatch(/\n\s+at /);
  });

  it('trains on IDX (gzip) and CIFAR-10 fixture folders through --data-dir', async () => {
    const fashion = join(tmp, 'fashion');
    writeIdxDataset(fashion, { train: 40, test: 20, gzip: true });
    const a = await run(['train', '--backend', 'wasm', '--dataset', 'fashion-mnist', '--data-dir', fashion, '--model', 'mlp', '--optimizer', 'kfac', '--epochs', '1', '--batch', '20', '--runs-dir', join(tmp, 'runs-f')]);
    expect(a.code, a.stderr).toBe(0);
    expect(a.stdout).toContain('fashion-mnist (40 train / 20 test');
    const cifar = join(tmp, 'cifar');
    writeCifarDataset(cifar, 8, 10);
    const b = await run(['train', '--backend', 'wasm', '--dataset', 'cifar10', '--data-dir', cifar, '--model', 'mlp', '--optimizer', 'diagonal-fop', '--epochs', '1', '--batch', '20', '--runs-dir', join(tmp, 'runs-c')]);
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toContain('cifar10 (40 train / 10 test');
    const missing = await run(['train', '--backend', 'wasm', '--dataset', 'cifar10', '--data-dir', join(tmp, 'nope')]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('does not exist');
  });
});

describe('natgrad compare', () => {
  it('renders a valid SVG and a markdown table for several runs', async () => {
    const runs = join(tmp, 'runs-a');
    const dirs = readdirSync(runs).map((d) => join(runs, d));
    const resumeRuns = join(tmp, 'runs-resume');
    dirs.push(...readdirSync(resumeRuns).map((d) => join(resumeRuns, d)));
    const outDir = join(tmp, 'cmp');
    const { code, stdout, stderr } = await run(['compare', ...dirs, '--target', '0.05', '--out', outDir]);
    expect(code, stderr).toBe(0);
    expect(stdout).toContain('| run | optimizer | batch | epochs | final acc | best acc | target | epochs to target | seconds to target |');
    expect(stdout).toContain('| split | fop | 32 | 2 |');
    const svg = readFileSync(join(outDir, 'compare.svg'), 'utf8');
    expect(svg.startsWith('<svg') && svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg.includes('>whole<') && svg.includes('>split<')).toBe(true);
    expect(existsSync(join(outDir, 'compare.md'))).toBe(true);
    const bad = await run(['compare', '--target', '2']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--target');
    expect(bad.stderr).toContain('<run-dir>: missing: give at least one run folder');
  });
});
