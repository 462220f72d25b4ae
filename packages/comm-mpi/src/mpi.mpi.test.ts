// The MPI tier (pnpm vitest run --config vitest.mpi.config.ts): real jobs under mpirun.openmpi and
// mpirun.mpich on this machine's loopback/shared memory, each rank running mpi-test-rank.ts. Needs
// both implementations installed (scripts/mpi/prepare.sh); the launchers can be overridden with
// NATGRAD_MPIRUN_OPENMPI / NATGRAD_MPIRUN_MPICH (e.g. on distributions without Debian's names).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { mpirunArgs } from './launcher';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const RANK_SCRIPT = fileURLToPath(new URL('./mpi-test-rank.ts', import.meta.url));
const LAUNCHERS = {
  openmpi: process.env.NATGRAD_MPIRUN_OPENMPI ?? 'mpirun.openmpi',
  mpich: process.env.NATGRAD_MPIRUN_MPICH ?? 'mpirun.mpich',
} as const;

interface Job {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
  seconds: number;
  timedOut: boolean;
}

/**
 * Runs one job; kills its whole process group (mpirun and every rank) after `limitMs`. `launcher`
 * rewrites the launcher arguments (e.g. to force a transport).
 */
function runJob(flavor: 'openmpi' | 'mpich', np: number, mode: string, limitMs: number, launcher = (args: string[]) => args): Promise<Job> {
  const args = [...launcher(mpirunArgs(flavor, np)), process.execPath, '--conditions=natgrad-source', '--import', 'tsx', RANK_SCRIPT, mode];
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(LAUNCHERS[flavor], args, { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      process.kill(-(child.pid as number), 'SIGKILL');
    }, limitMs);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(new Error(`cannot start ${LAUNCHERS[flavor]} (install it: scripts/mpi/prepare.sh): ${error.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output, seconds: (performance.now() - started) / 1000, timedOut });
    });
  });
}

/** One process without a launcher, with initMpi({ library: flavor }). */
function runAlone(flavor: 'openmpi' | 'mpich', mode: string, limitMs: number): Promise<Job> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--conditions=natgrad-source', '--import', 'tsx', RANK_SCRIPT, mode], {
      cwd: ROOT,
      env: { ...process.env, NATGRAD_MPI_LIBRARY: flavor },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: limitMs,
      killSignal: 'SIGKILL',
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('close', (code, signal) => resolve({ code, signal, output, seconds: (performance.now() - started) / 1000, timedOut: signal === 'SIGKILL' }));
  });
}

function okLines(output: string, mode: string): string[] {
  return output.split('\n').filter((line) => new RegExp(`^rank \\d+/\\d+ ok ${mode}$`).test(line));
}

for (const flavor of ['openmpi', 'mpich'] as const) {
  describe(`MPI jobs on ${flavor}`, () => {
    for (const np of [2, 4]) {
      it(`every collective returns the known answers on ${np} ranks`, async () => {
        const job = await runJob(flavor, np, 'collectives', 150_000);
        expect(job.timedOut, job.output).toBe(false);
        expect(job.code, job.output).toBe(0);
        expect(okLines(job.output, 'collectives')).toHaveLength(np);
      });
    }

    if (flavor === 'openmpi') {
      it('every collective returns the known answers over TCP only (as between machines), 4 ranks', async () => {
        // btl self,tcp: 'self' only carries a rank's messages to itself, so every message between
        // ranks crosses the loopback network.
        const job = await runJob(flavor, 4, 'collectives', 150_000, (args) => args.map((a) => (a === 'self,vader' ? 'self,tcp' : a)));
        expect(job.code, job.output).toBe(0);
        expect(okLines(job.output, 'collectives')).toHaveLength(4);
      });
    }

    it('runs as a 1-rank world without a launcher', async () => {
      const job = await runAlone(flavor, 'singleton', 120_000);
      expect(job.code, job.output).toBe(0);
      expect(okLines(job.output, 'singleton')).toEqual(['rank 0/1 ok singleton']);
    });

    it('keeps the event loop running while a collective waits for late ranks', async () => {
      const job = await runJob(flavor, 2, 'responsive', 120_000);
      expect(job.code, job.output).toBe(0);
      expect(job.output).toMatch(/rank 0: \d+ timer ticks during a \d+ ms all-reduce/);
      expect(okLines(job.output, 'responsive')).toHaveLength(2);
    });

    it('finalizes at exit when the program never disposed the world communicator', async () => {
      const job = await runJob(flavor, 2, 'forget-dispose', 120_000);
      expect(job.code, job.output).toBe(0);
      expect(okLines(job.output, 'forget-dispose')).toHaveLength(2);
    });

    for (const np of [2, 4]) {
      it(`a rank killed inside a collective (${np} ranks) makes the job fail within 60 s, never hang`, async () => {
        const job = await runJob(flavor, np, 'kill', 150_000);
        expect(job.timedOut, job.output).toBe(false);
        expect(job.code === 0 && job.signal === null, job.output).toBe(false);
        expect(job.output).not.toContain('outlived');
        expect(job.seconds).toBeLessThan(60);
      });
    }

    it('a rank that crashes (SIGSEGV) inside a collective dies at once and fails the job, with no UCX crash handler', async () => {
      const job = await runJob(flavor, 2, 'segv', 150_000);
      expect(job.timedOut, job.output).toBe(false);
      expect(job.code === 0 && job.signal === null, job.output).toBe(false);
      expect(job.seconds).toBeLessThan(60);
      // UCX's handler announces itself so; it can deadlock in malloc (init-mpi.ts, UCX_DEFAULTS).
      expect(job.output).not.toContain('Caught signal');
    });
  });
}
