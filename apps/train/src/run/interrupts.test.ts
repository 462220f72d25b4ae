/**
 * The launcher (bin/natgrad.mjs) and the training process it starts, as a user runs them: a signal
 * to the launcher alone reaches the training process, which prints how to resume, releases the run
 * lock and exits 128 + n; a launcher killed outright (SIGKILL, which it cannot relay) leaves no
 * orphan behind: the training process notices and stops. While it runs, a resume is refused (exit 4).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readCheckpointFileProgress } from '@natgrad/trainer/node';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../commands/output';
import { main } from '../main';
import { stopMessage } from './interrupts';
import { LOCK_FILE } from './run-lock';
import { ProcessGroups } from './test-support';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-signals-'));
const launcher = fileURLToPath(new URL('../../bin/natgrad.mjs', import.meta.url));
const groups = new ProcessGroups();
afterAll(() => {
  // Each launcher leads its own process group: end whatever of it is left.
  groups.killAll();
  rmSync(tmp, { recursive: true, force: true });
});

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

async function until<T>(what: string, probe: () => T | null | undefined | false, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = probe();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Started {
  child: ChildProcess;
  runs: string;
  stderr: () => string;
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** A long tiny run through the launcher; resolves once its first checkpoint exists. */
async function startLong(name: string): Promise<Started & { dir: string; trainingPid: number }> {
  const runs = join(tmp, name);
  const child = spawn(
    process.execPath,
    [launcher, 'train', '--backend', 'wasm', '--train-size', '64', '--test-size', '32', '--batch', '32', '--epochs', '100000', '--runs-dir', runs, '--statistics-worker', 'off'],
    { detached: true, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  groups.add(child.pid as number);
  let err = '';
  child.stderr?.on('data', (d) => {
    err += d;
  });
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.on('exit', (code, signal) => resolve({ code, signal })));
  const dir = await until('the first checkpoint', () => {
    const d = existsSync(runs) ? readdirSync(runs)[0] : undefined;
    return d !== undefined && existsSync(join(runs, d, 'checkpoint', 'progress.json')) && existsSync(join(runs, d, LOCK_FILE)) ? join(runs, d) : null;
  });
  const trainingPid = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid as number;
  return { child, runs, dir, trainingPid, stderr: () => err, exit };
}

async function resume(dir: string, epochs: number) {
  const out = memoryOutput();
  const code = await main(['train', '--resume', dir, '--epochs', String(epochs)], out);
  return { code, stderr: out.err.join('') };
}

describe('natgrad launcher and signals', () => {
  it('says how to resume, in every case', () => {
    expect(stopMessage('interrupted by SIGINT', { dir: '/r/x', checkpointEpoch: 3, release: () => {} })).toBe(
      'natgrad: interrupted by SIGINT; the run resumes from its checkpoint of epoch 3: natgrad train --resume /r/x\n',
    );
    expect(stopMessage('interrupted by SIGINT', { dir: '/r/x', checkpointEpoch: 0, release: () => {} })).toMatch(/before the first checkpoint of \/r\/x; start a new run/);
    expect(stopMessage('interrupted by SIGINT', { dir: null, checkpointEpoch: 0, release: () => {} })).toMatch(/before the run folder was created/);
  });

  it('SIGINT to the launcher alone: the run prints how to resume, releases its lock, exit 130', async () => {
    const s = await startLong('sigint');
    expect(s.trainingPid).not.toBe(s.child.pid);
    s.child.kill('SIGINT');
    const { code } = await s.exit;
    expect(code, s.stderr()).toBe(130);
    expect(s.stderr()).toMatch(new RegExp(`interrupted by SIGINT; the run resumes from its checkpoint of epoch \\d+: natgrad train --resume ${s.dir}`));
    await until('the training process to end', () => !alive(s.trainingPid), 15_000);
    expect(existsSync(join(s.dir, LOCK_FILE))).toBe(false);
  }, 90_000);

  it('SIGHUP to the launcher alone: the training process ends too (exit 129)', async () => {
    const s = await startLong('sighup');
    s.child.kill('SIGHUP');
    const { code } = await s.exit;
    expect(code, s.stderr()).toBe(129);
    await until('the training process to end', () => !alive(s.trainingPid), 15_000);
    expect(s.stderr()).toContain('interrupted by SIGHUP');
  }, 90_000);

  it('a second writer is refused while the run trains; SIGKILL of the launcher leaves no orphan, and the run resumes', async () => {
    const s = await startLong('sigkill');
    const refused = await resume(s.dir, 100001);
    expect(refused.code).toBe(4);
    expect(refused.stderr).toContain(`in use by another natgrad process (pid ${s.trainingPid}`);
    s.child.kill('SIGKILL');
    await s.exit;
    await until('the orphaned training process to stop', () => !alive(s.trainingPid), 15_000);
    expect(s.stderr()).toMatch(/the natgrad launcher \(pid \d+\) is gone; the run resumes from its checkpoint of epoch \d+/);
    const { epoch } = (await readCheckpointFileProgress(join(s.dir, 'checkpoint', 'trainer.ckpt'))) as { epoch: number };
    const resumed = await resume(s.dir, epoch + 1);
    expect(resumed.code, resumed.stderr).toBe(0);
    const epochs = readFileSync(join(s.dir, 'metrics.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).epoch as number);
    expect(epochs).toEqual(Array.from({ length: epoch + 1 }, (_, i) => i + 1));
  }, 120_000);
});
