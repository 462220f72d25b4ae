/**
 * One writer per run folder: `run.lock` is created with O_EXCL (only one process can create it) and
 * holds the owner's pid, host, start time and a random token. A lock whose owner is gone (same
 * host, and the pid no longer exists or now belongs to a process started at another time, read from
 * /proc where there is one) is stale: the next writer takes it over and says so. A live owner, or
 * one on another host (whose processes cannot be checked from here), refuses the second writer with
 * RunLockedError, which `natgrad train` turns into exit status 4.
 *
 * Two processes taking over the same stale lock at the same moment could both succeed (unlink and
 * create are two calls); the owner therefore re-reads the lock before each write (`verify`), so the
 * loser of that race stops before it writes anything.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';

export const LOCK_FILE = 'run.lock';

/** A second writer refused (code CONCURRENT_CALL); `natgrad train` exits with status 4 for it. */
export class RunLockedError extends NatgradError {
  readonly exitCode = 4;

  constructor(summary: string, details: ConstructorParameters<typeof NatgradError>[2]) {
    super('CONCURRENT_CALL', summary, details);
  }
}

export interface LockOwner {
  pid: number;
  host: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** The owner's process start time in clock ticks since boot (/proc/<pid>/stat), against pid reuse. */
  processStart: number | null;
  token: string;
  command: string;
}

export interface RunLock {
  readonly file: string;
  readonly owner: LockOwner;
  /** A stale lock this one replaced, for the note the caller prints. */
  readonly replaced: LockOwner | null;
  /** Throws RunLockedError when run.lock no longer holds this owner's token. */
  verify(): void;
  /** Removes run.lock if it is still this owner's (idempotent). */
  release(): void;
}

/** Field 22 of /proc/<pid>/stat (start time after boot), or null where /proc is absent. */
export function processStartTime(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may itself contain spaces or parentheses.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[19]);
    return Number.isFinite(start) ? start : null;
  } catch {
    return null;
  }
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: the pid exists but belongs to another user.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // kill(pid, 0) also succeeds for a zombie: a killed owner whose parent has not reaped it yet (or
  // never will, in a container without an init), which writes nothing any more.
  return !isZombie(pid);
}

/** Linux: the state field of /proc/<pid>/stat is 'Z' for a zombie. Elsewhere: not known, false. */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may contain spaces: the state follows the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** Whether the owner of a lock written on this host is still running. */
export function ownerAlive(owner: LockOwner): boolean {
  if (!pidAlive(owner.pid)) return false;
  if (owner.processStart === null) return true;
  const now = processStartTime(owner.pid);
  return now === null || now === owner.processStart;
}

function readOwner(file: string): LockOwner | null {
  try {
    const o = JSON.parse(readFileSync(file, 'utf8')) as Partial<LockOwner>;
    if (typeof o.pid !== 'number' || typeof o.host !== 'string' || typeof o.token !== 'string') return null;
    return { startedAt: '?', processStart: null, command: '?', ...o } as LockOwner;
  } catch {
    return null;
  }
}

function describe(o: LockOwner): string {
  return `pid ${o.pid} on ${o.host}, since ${o.startedAt}`;
}

function lockedError(dir: string, file: string, owner: LockOwner, sameHost: boolean): NatgradError {
  return new RunLockedError(`The run folder ${dir} is in use by another natgrad process (${describe(owner)}).`, {
    expected: 'a run folder no other process is writing (one writer per run folder)',
    received: `${file} held by ${describe(owner)}${owner.command === '?' ? '' : `: ${owner.command}`}`,
    fix: sameHost
      ? `wait for that process to finish or stop it (kill ${owner.pid}), then run natgrad train --resume ${dir}`
      : `if no natgrad process runs on ${owner.host} any more, delete ${file} and resume`,
  });
}

/** Creates run.lock exclusively; returns null when it exists already. */
function tryCreate(file: string, owner: LockOwner): boolean {
  let fd: number;
  try {
    fd = openSync(file, 'wx');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw new RunLockedError(`Cannot create the lock of run folder ${file}.`, {
      expected: 'a writable run folder',
      received: (err as Error).message,
      fix: 'check the folder exists and is writable',
      cause: err,
    });
  }
  try {
    writeSync(fd, `${JSON.stringify(owner)}\n`);
  } finally {
    closeSync(fd);
  }
  return true;
}

/** A lock file being written right now is empty for a moment; one still unreadable after this is stale. */
const UNREADABLE_GRACE_MS = 5000;

export function acquireRunLock(dir: string, command = process.argv.slice(1).join(' ')): RunLock {
  const file = join(dir, LOCK_FILE);
  const host = hostname();
  const owner: LockOwner = {
    pid: process.pid,
    host,
    startedAt: new Date().toISOString(),
    processStart: processStartTime(process.pid),
    token: randomBytes(8).toString('hex'),
    command,
  };
  let replaced: LockOwner | null = null;
  for (let attempt = 0; attempt < 5; attempt++) {
    if (tryCreate(file, owner)) return makeLock(dir, file, owner, replaced);
    const current = readOwner(file);
    if (current === null) {
      let age = Number.POSITIVE_INFINITY;
      try {
        age = Date.now() - statSync(file).mtimeMs;
      } catch {
        continue; // removed meanwhile: try again
      }
      if (age < UNREADABLE_GRACE_MS) {
        throw new RunLockedError(`The run folder ${dir} is being opened by another natgrad process.`, {
          expected: 'a run folder no other process is writing',
          received: `${file} created ${Math.round(age)} ms ago and not yet written`,
          fix: `try again in a few seconds: natgrad train --resume ${dir}`,
        });
      }
      replaced = { pid: -1, host: '?', startedAt: '?', processStart: null, token: '?', command: 'an unreadable lock file' };
    } else if (current.host !== host) {
      throw lockedError(dir, file, current, false);
    } else if (current.pid === process.pid && current.processStart === owner.processStart) {
      throw lockedError(dir, file, current, true);
    } else if (ownerAlive(current)) {
      throw lockedError(dir, file, current, true);
    } else {
      replaced = current;
    }
    // Stale: remove it only if it is still the lock just judged (narrows the takeover race).
    const again = readOwner(file);
    if (again === null ? replaced.pid === -1 : again.token === replaced.token) rmSync(file, { force: true });
  }
  throw new RunLockedError(`Could not take the lock of run folder ${dir}.`, {
    expected: 'one process creating run.lock',
    received: 'other processes kept creating it',
    fix: `make sure no other natgrad process is resuming ${dir}, then try again`,
  });
}

function makeLock(dir: string, file: string, owner: LockOwner, replaced: LockOwner | null): RunLock {
  let released = false;
  return {
    file,
    owner,
    replaced,
    verify() {
      const current = readOwner(file);
      if (current?.token === owner.token) return;
      throw new RunLockedError(`This process lost the lock of run folder ${dir}; it stops before writing.`, {
        expected: `${file} holding this process (pid ${owner.pid})`,
        received: current === null ? 'no lock file' : `a lock of ${describe(current)}`,
        fix: 'let the other process finish, then resume the run with natgrad train --resume',
      });
    },
    release() {
      if (released) return;
      released = true;
      if (readOwner(file)?.token === owner.token) rmSync(file, { force: true });
    },
  };
}
