/**
 * One writer per run folder: the lock refuses a live owner (this process, or another on this host,
 * or any on another host), takes over a dead owner's lock with a note, notices a lock taken from it,
 * and releases only its own lock. Run folders are created atomically even by simultaneous processes.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCK_FILE, RunLockedError, acquireRunLock, ownerAlive, processStartTime } from './run-lock';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-lock-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

let n = 0;
const folder = () => {
  const d = join(tmp, `run-${n++}`);
  mkdirSync(d);
  return d;
};
const writeLock = (dir: string, owner: Record<string, unknown>) =>
  writeFileSync(join(dir, LOCK_FILE), JSON.stringify({ startedAt: '2025-01-01T00:00:00.000Z', processStart: null, token: 'other', command: 'natgrad train', ...owner }));

describe('run.lock', () => {
  it('refuses a second writer in the same process and releases only its own lock', () => {
    const dir = folder();
    const lock = acquireRunLock(dir);
    const stored = JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8'));
    expect(stored).toMatchObject({ pid: process.pid, host: hostname() });
    expect(Number.isNaN(Date.parse(stored.startedAt))).toBe(false);
    let err: unknown;
    try {
      acquireRunLock(dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RunLockedError);
    expect((err as RunLockedError).exitCode).toBe(4);
    expect((err as RunLockedError).code).toBe('CONCURRENT_CALL');
    expect((err as Error).message).toContain(`in use by another natgrad process (pid ${process.pid} on ${hostname()}`);
    lock.verify();
    lock.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(false);
    // A lock that is someone else's by now is neither verified nor removed.
    const again = acquireRunLock(dir);
    writeLock(dir, { pid: 1, host: hostname() });
    expect(() => again.verify()).toThrow(/lost the lock/);
    again.release();
    expect(existsSync(join(dir, LOCK_FILE))).toBe(true);
  });

  it('refuses a live owner on this host and any owner on another host', () => {
    const live = folder();
    // The parent of this test process is alive for as long as the test runs.
    writeLock(live, { pid: process.ppid, host: hostname(), processStart: processStartTime(process.ppid) });
    expect(() => acquireRunLock(live)).toThrow(new RegExp(`pid ${process.ppid} on ${hostname()}[\\s\\S]*fix: wait for that process to finish or stop it \\(kill ${process.ppid}\\)`));
    const remote = folder();
    writeLock(remote, { pid: process.pid, host: 'another-host.example' });
    expect(() => acquireRunLock(remote)).toThrow(/if no natgrad process runs on another-host.example any more, delete .*run\.lock/);
  });

  it('takes over the lock of a process that is gone, or whose pid now names another process', () => {
    const dir = folder();
    const dead = spawnSync(process.execPath, ['-e', '']).pid as number;
    writeLock(dir, { pid: dead, host: hostname() });
    const lock = acquireRunLock(dir);
    expect(lock.replaced).toMatchObject({ pid: dead });
    expect(JSON.parse(readFileSync(join(dir, LOCK_FILE), 'utf8')).pid).toBe(process.pid);
    lock.release();
    // pid reuse: the pid is alive but started at another time than the lock says.
    if (processStartTime(process.ppid) !== null) {
      writeLock(dir, { pid: process.ppid, host: hostname(), processStart: (processStartTime(process.ppid) as number) + 1 });
      const reused = acquireRunLock(dir);
      expect(reused.replaced).toMatchObject({ pid: process.ppid });
      reused.release();
    }
  });

  it('creates distinct run folders when six processes start in the same second', async () => {
    const runs = join(tmp, 'same-second');
    const runDir = fileURLToPath(new URL('./run-dir.ts', import.meta.url));
    const script = `import { createRunDir } from ${JSON.stringify(runDir)}; const p = createRunDir(${JSON.stringify(runs)}, 'race', new Date(2025, 0, 31, 12, 0, 0)); process.stdout.write(p.dir);`;
    const tsx = import.meta.resolve('tsx');
    const runOne = () =>
      new Promise<{ code: number | null; out: string; err: string }>((resolve) => {
        const child = spawn(process.execPath, ['--conditions=natgrad-source', '--import', tsx, '--input-type=module', '-e', script], { timeout: 60_000 });
        let out = '';
        let err = '';
        child.stdout.on('data', (d) => {
          out += d;
        });
        child.stderr.on('data', (d) => {
          err += d;
        });
        child.on('close', (code) => resolve({ code, out, err }));
      });
    const results = await Promise.all(Array.from({ length: 6 }, runOne));
    for (const r of results) expect(r.code, r.err).toBe(0);
    expect(new Set(results.map((r) => r.out)).size).toBe(6);
    expect(readdirSync(runs)).toHaveLength(6);
  }, 90_000);
});

describe('a zombie owner', () => {
  it.skipIf(process.platform !== 'linux')('counts as dead: kill(pid, 0) succeeds for it, /proc/<pid>/stat says Z', async () => {
    // sh starts `true` in the background and execs into sleep, which never reaps it: a zombie
    // for as long as sleep runs (a killed owner whose parent does not reap it looks the same).
    const parent = spawn('sh', ['-c', 'true & echo $!; exec sleep 5'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = await new Promise<number>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
      let state = '';
      for (let i = 0; i < 50 && state !== 'Z'; i++) {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state !== 'Z') await new Promise((r) => setTimeout(r, 20));
      }
      expect(state).toBe('Z');
      process.kill(pid, 0); // would throw if the pid were gone: it is a zombie, not a free pid
      const owner = { pid, host: hostname(), startedAt: new Date().toISOString(), processStart: null, token: 't', command: 'natgrad train' };
      expect(ownerAlive(owner)).toBe(false);
      expect(ownerAlive({ ...owner, pid: process.pid })).toBe(true);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
