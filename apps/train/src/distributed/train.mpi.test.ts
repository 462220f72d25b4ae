// The MPI tier (pnpm vitest run --config vitest.mpi.config.ts): `natgrad train` as users run it,
// `mpirun.openmpi <settings> node apps/train/bin/natgrad.mjs train ...`, through the checkout
// launcher (which runs the training in a child process: that child, not the launcher, calls
// MPI_Init). A tiny FOP run on wasm: 128 embedded digits, batch 32, two epochs of 4 steps. Each job
// is killed with its whole process group when it outlives its bound, so a hang fails the test
// instead of the tier. NATGRAD_MPIRUN_OPENMPI / NATGRAD_MPIRUN_MPICH override the launchers' names.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mpirunArgs } from '@natgrad/comm-mpi';
import { decodeCheckpoint } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const NATGRAD = join(ROOT, 'apps/train/bin/natgrad.mjs');
const MPIRUN = process.env.NATGRAD_MPIRUN_OPENMPI ?? 'mpirun.openmpi';
const MPICH = process.env.NATGRAD_MPIRUN_MPICH ?? 'mpirun.mpich';
const TINY = ['--backend', 'wasm', '--train-size', '128', '--test-size', '64', '--batch', '32', '--seed', '3', '--lr-schedule', 'constant', '--statistics-worker', 'off'];

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-mpi-train-'));
const running = new Set<ChildProcess>();
afterAll(() => {
  for (const child of running) killGroup(child);
  rmSync(tmp, { recursive: true, force: true });
});

function killGroup(child: ChildProcess): void {
  try {
    process.kill(-(child.pid as number), 'SIGKILL');
  } catch {
    // already gone
  }
}

interface Job {
  code: number | null;
  stdout: string;
  stderr: string;
  seconds: number;
  timedOut: boolean;
}

/**
 * Runs natgrad with `argv`: under mpirun with `np` ranks (--tag-output: each line says its rank),
 * or as one plain process when np is null. `during` sees the job while it runs (to kill a rank).
 */
function natgrad(np: number | null, argv: string[], limitMs: number, during?: (child: ChildProcess, stdout: () => string) => void): Promise<Job> {
  const program = [process.execPath, NATGRAD, ...argv];
  const [command, ...args] = np === null ? program : [MPIRUN, ...mpirunArgs('openmpi', np), '--tag-output', ...program];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' } });
    running.add(child);
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (chunk) => (stdout += chunk));
    child.stderr?.on('data', (chunk) => (stderr += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child);
    }, limitMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${command} (install Open MPI: scripts/mpi/prepare.sh): ${error.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      running.delete(child);
      resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000, timedOut });
    });
    during?.(child, () => stdout);
  });
}

/** The lines a rank printed on a stream, from --tag-output's "[jobid,rank]<stdout>:" prefixes. */
function linesOf(output: string, rank: number): string[] {
  return output
    .split('\n')
    .filter((line) => new RegExp(`^\\[\\d+,${rank}\\]<std(out|err)>:`).test(line))
    .map((line) => line.replace(/^\[\d+,\d+\]<std(out|err)>:/, ''));
}

function events(stdout: string): Record<string, unknown>[] {
  return linesOf(stdout, 0)
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

function runDirOf(job: Job, np: number | null): string {
  const lines = np === null ? job.stdout.split('\n').filter((l) => l.startsWith('{')) : linesOf(job.stdout, 0).filter((l) => l.startsWith('{'));
  const end = lines.map((l) => JSON.parse(l) as { event: string; runDir?: string }).find((e) => e.event === 'end');
  if (end?.runDir === undefined) throw new Error(`no end event:\n${job.stdout}\n${job.stderr}`);
  return end.runDir;
}

function files(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

function metrics(dir: string): { epoch: number; step: number; trainLoss: number; testLoss: number; testAccuracy: number }[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
}

/** Largest difference between two checkpoints' tensors, relative to each tensor's largest entry. */
async function checkpointDistance(a: string, b: string): Promise<{ worst: number; key: string; keys: number }> {
  const load = (file: string) => {
    const buf = readFileSync(file);
    return decodeCheckpoint(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
  };
  const x = load(a);
  const y = load(b);
  try {
    expect(Object.keys(y.tensors).sort()).toEqual(Object.keys(x.tensors).sort());
    let worst = 0;
    let key = '';
    for (const k of Object.keys(x.tensors)) {
      const u = await x.tensors[k].data();
      const v = await y.tensors[k].data();
      let scale = 1e-12;
      let diff = 0;
      for (let i = 0; i < u.length; i++) {
        scale = Math.max(scale, Math.abs(u[i]));
        diff = Math.max(diff, Math.abs(u[i] - v[i]));
      }
      if (diff / scale > worst) {
        worst = diff / scale;
        key = k;
      }
    }
    return { worst, key, keys: Object.keys(x.tensors).length };
  } finally {
    tf.dispose([...Object.values(x.tensors), ...Object.values(y.tensors)]);
  }
}

function expectSameMetrics(a: string, b: string, tolerance: number): void {
  const ma = metrics(a);
  const mb = metrics(b);
  expect(mb.map((r) => [r.epoch, r.step])).toEqual(ma.map((r) => [r.epoch, r.step]));
  for (let i = 0; i < ma.length; i++) {
    expect(Math.abs(mb[i].trainLoss - ma[i].trainLoss), `epoch ${i + 1} train loss`).toBeLessThanOrEqual(tolerance * Math.abs(ma[i].trainLoss));
    expect(Math.abs(mb[i].testLoss - ma[i].testLoss), `epoch ${i + 1} test loss`).toBeLessThanOrEqual(tolerance * Math.abs(ma[i].testLoss));
    expect(Math.abs(mb[i].testAccuracy - ma[i].testAccuracy), `epoch ${i + 1} test accuracy`).toBeLessThanOrEqual(1 / 64 + 1e-9);
  }
}

/**
 * float32 reduction order over 8 steps of FOP (the owner sums 2 ranks' statistics instead of one
 * sum over the batch), relative to each tensor's largest entry: measured 1e-5 after 2 steps and
 * 1e-4..3e-4 after 8 (the damped factor inverses, kappa up to ~1e3, amplify rounding), while a wrong
 * shard, a missing reduction or a stale owner gives 1e-1 and more. Why only 8 steps: these tiny runs
 * (batch 32, lr 0.01) turn unstable after 12-14 steps (one loss jumped from 0.59 to 2.31), which
 * amplifies any rounding difference to 1e-2..1e-1 with either communicator (the in-process group
 * too) and with --projection average as much as fop.
 */
const REDUCTION_ORDER = 2e-3;

/** The one-process reference run (two epochs), made once for the tests that compare with it. */
let reference: Promise<string> | null = null;
function singleRun(): Promise<string> {
  reference ??= natgrad(null, ['train', ...TINY, '--epochs', '2', '--json', '--runs-dir', join(tmp, 'single')], 180_000).then((one) => {
    expect(one.code, one.stderr).toBe(0);
    return runDirOf(one, null);
  });
  return reference;
}

describe('natgrad train under mpirun (Open MPI)', () => {
  it('2 ranks train FOP to the single process run (metrics and every checkpoint tensor); only rank 0 writes or prints', async () => {
    const singleDir = await singleRun();

    const runs = join(tmp, 'two');
    const two = await natgrad(2, ['train', ...TINY, '--epochs', '2', '--json', '--runs-dir', runs], 240_000);
    expect(two.timedOut, two.stderr).toBe(false);
    expect(two.code, `${two.stderr}\n${two.stdout}`).toBe(0);
    // Rank 1 printed nothing at all; rank 0 printed the JSON events.
    expect(linesOf(two.stdout, 1)).toEqual([]);
    expect(linesOf(two.stderr, 1)).toEqual([]);
    expect(events(two.stdout).map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'epoch', 'end']);
    expect(events(two.stdout)[2]).toMatchObject({ ranks: 2, communication: expect.stringMatching(/Open MPI/) });

    // One run folder, holding exactly what a single process writes.
    expect(readdirSync(runs)).toHaveLength(1);
    const dir = runDirOf(two, 2);
    expect(files(dir)).toEqual(files(singleDir));
    expect(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')).environment).toMatchObject({ ranks: 2 });

    expectSameMetrics(singleDir, dir, REDUCTION_ORDER);
    const d = await checkpointDistance(join(singleDir, 'checkpoint/trainer.ckpt'), join(dir, 'checkpoint/trainer.ckpt'));
    expect(d.keys).toBeGreaterThan(10);
    expect(d.worst, `worst tensor ${d.key}`).toBeLessThanOrEqual(REDUCTION_ORDER);
  });

  it('resumes across rank counts: 2 ranks then one process continue to the single process run; 4 -> 2 -> 1 continues', async () => {
    // 2 -> 1: an epoch on 2 ranks, the second in one process, equals two epochs in one process.
    const runs = join(tmp, 'resume');
    const first = await natgrad(2, ['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs, '--name', 'two-one'], 240_000);
    expect(first.code, `${first.stderr}\n${first.stdout}`).toBe(0);
    const dir = runDirOf(first, 2);
    const second = await natgrad(null, ['train', '--resume', dir, '--epochs', '2', '--json'], 180_000);
    expect(second.code, second.stderr).toBe(0);
    const singleDir = await singleRun();
    expectSameMetrics(singleDir, dir, REDUCTION_ORDER);
    const d = await checkpointDistance(join(singleDir, 'checkpoint/trainer.ckpt'), join(dir, 'checkpoint/trainer.ckpt'));
    expect(d.worst, `worst tensor ${d.key}`).toBeLessThanOrEqual(REDUCTION_ORDER);

    // 4 -> 2 -> 1: each resume starts from the checkpoint the previous job wrote.
    const four = await natgrad(4, ['train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs, '--name', 'four'], 300_000);
    expect(four.code, `${four.stderr}\n${four.stdout}`).toBe(0);
    const fourDir = runDirOf(four, 4);
    expect(JSON.parse(readFileSync(join(fourDir, 'config.json'), 'utf8')).environment).toMatchObject({ ranks: 4 });
    const onTwo = await natgrad(2, ['train', '--resume', fourDir, '--epochs', '2', '--json'], 240_000);
    expect(onTwo.code, `${onTwo.stderr}\n${onTwo.stdout}`).toBe(0);
    expect(events(onTwo.stdout).find((e) => e.event === 'start')).toMatchObject({ resumedFromEpoch: 1, ranks: 2 });
    const onOne = await natgrad(null, ['train', '--resume', fourDir, '--epochs', '3', '--json'], 180_000);
    expect(onOne.code, onOne.stderr).toBe(0);
    const m = metrics(fourDir);
    expect(m.map((r) => [r.epoch, r.step])).toEqual([
      [1, 4],
      [2, 8],
      [3, 12],
    ]);
    for (const r of m) expect(Number.isFinite(r.trainLoss) && Number.isFinite(r.testLoss)).toBe(true);
    // Training went on from the checkpoint rather than from scratch.
    expect(m[2].trainLoss).toBeLessThan(m[0].trainLoss);
  });

  it('a rank killed during training makes the job exit with an error within 60 s, leaving no process', async () => {
    const runs = join(tmp, 'kill');
    let killedAt = 0;
    let jobProcesses: number[] = [];
    const job = await natgrad(2, ['train', ...TINY, '--epochs', '50', '--json', '--runs-dir', runs], 240_000, (child, stdout) => {
      const poll = setInterval(() => {
        // After the first epoch line, SIGKILL rank 1's training process (the launcher's child).
        if (!events(stdout()).some((e) => e.event === 'epoch')) return;
        clearInterval(poll);
        const victim = trainingProcessOfRank(child.pid as number, 1);
        jobProcesses = descendants(child.pid as number);
        if (victim !== null) {
          process.kill(victim, 'SIGKILL');
          killedAt = performance.now();
        }
      }, 200);
      child.on('close', () => clearInterval(poll));
    });
    expect(killedAt, `${job.stderr}\n${job.stdout}`).toBeGreaterThan(0);
    expect(job.timedOut).toBe(false);
    expect(job.code).not.toBe(0);
    expect((performance.now() - killedAt) / 1000).toBeLessThan(60);
    expect(job.stderr).toMatch(/exited on signal 9|non-zero status|returned\s+a non-zero exit code/);
    // Nothing of the job is left: every process it had when the rank was killed is gone.
    expect(jobProcesses.length).toBeGreaterThanOrEqual(4);
    await new Promise((r) => setTimeout(r, 1000));
    expect(jobProcesses.filter(alive)).toEqual([]);
  });

  it("trains on MPICH's Hydra too: the launcher passes the PMI socket (PMI_FD) to the training child", async () => {
    const runs = join(tmp, 'mpich');
    const started = performance.now();
    const job = await new Promise<Job>((resolve, reject) => {
      const child = spawn(MPICH, [...mpirunArgs('mpich', 2), process.execPath, NATGRAD, 'train', ...TINY, '--epochs', '1', '--json', '--runs-dir', runs], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c) => (stdout += c));
      child.stderr?.on('data', (c) => (stderr += c));
      const timer = setTimeout(() => killGroup(child), 240_000);
      child.on('error', (error) => reject(new Error(`cannot start ${MPICH} (install MPICH: scripts/mpi/prepare.sh): ${error.message}`)));
      child.on('close', (code) => {
        clearTimeout(timer);
        running.delete(child);
        resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000, timedOut: false });
      });
    });
    expect(job.code, `${job.stderr}\n${job.stdout}`).toBe(0);
    // Only rank 0 printed: one line per event, and a single run folder.
    const lines = job.stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; communication?: string });
    expect(lines.map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'end']);
    expect(lines[2].communication).toMatch(/MPICH/);
    expect(readdirSync(runs)).toHaveLength(1);
  });

  it('every rank leaves with status 2 when the ranks were started with different arguments', async () => {
    const base = ['train', ...TINY, '--runs-dir', join(tmp, 'mpmd')];
    const program = (epochs: string) => ['-np', '1', process.execPath, NATGRAD, ...base, '--epochs', epochs];
    const started = performance.now();
    const job = await new Promise<Job>((resolve) => {
      // MPMD: one rank per program; mpirunArgs without its own -np.
      const settings = mpirunArgs('openmpi', 2).slice(2);
      const child = spawn(MPIRUN, [...settings, ...program('1'), ':', ...program('2')], {
        cwd: ROOT,
        detached: true,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: '1' },
      });
      running.add(child);
      let stdout = '';
      let stderr = '';
      child.stdout?.on('data', (c) => (stdout += c));
      child.stderr?.on('data', (c) => (stderr += c));
      const timer = setTimeout(() => killGroup(child), 180_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        running.delete(child);
        resolve({ code, stdout, stderr, seconds: (performance.now() - started) / 1000, timedOut: false });
      });
    });
    expect(job.code, job.stderr).toBe(2);
    expect(job.stderr).toMatch(/the ranks were started with different arguments \(rank 0: .*--epochs 1; rank 1: .*--epochs 2\)/);
    expect(existsSync(join(tmp, 'mpmd'))).toBe(false);
  });
});

/** Whether `pid` still runs (a zombie, exited but not yet reaped, counts as gone). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Every process below `pid` (from /proc), with its environment readable. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const e of readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(e)]);
    } catch {
      // exited meanwhile
    }
  }
  const out: number[] = [];
  const walk = (p: number) => {
    for (const c of children.get(p) ?? []) {
      out.push(c);
      walk(c);
    }
  };
  walk(pid);
  return out;
}

/** The training process (the launcher's child running src/cli.ts) of world rank `rank` under `mpirunPid`. */
function trainingProcessOfRank(mpirunPid: number, rank: number): number | null {
  for (const pid of descendants(mpirunPid)) {
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      if (cmdline.includes('src/cli.ts') && env.includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return pid;
    } catch {
      // exited meanwhile
    }
  }
  return null;
}
