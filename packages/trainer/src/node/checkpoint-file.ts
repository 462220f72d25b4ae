/**
 * Checkpoint files for Node: a trainer's checkpoint bytes (Trainer.toCheckpointBytes) written to a
 * temporary path in the same folder, flushed, then renamed over the target, so a crash never leaves
 * a half-written checkpoint under the real name; and read back with restoreCheckpoint(). A save
 * killed before its rename leaves its temp file behind, so each save removes its target's stale
 * temps. Every error names the checkpoint file (or its missing folder), never the temp path. Kept
 * out of the main entry, which has no file system (it bundles for browsers).
 */
import { open, readFile, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type JsonValue, NatgradError } from '@natgrad/core';
import { readCheckpointProgress } from '../trainer-checkpoint';

const TEMP_MARK = '.tmp-';

/** The folder of `path` must exist and be a folder; otherwise the error says which folder. */
async function checkFolder(path: string): Promise<void> {
  const folder = dirname(path);
  const info = await stat(folder).catch(() => null);
  if (info === null || !info.isDirectory()) {
    throw new NatgradError('INVALID_ARGUMENT', `Cannot write checkpoint ${path}: its folder does not exist.`, {
      expected: `an existing folder ${folder}`,
      received: info === null ? 'no such folder' : 'a file, not a folder',
      fix: `create the folder first (mkdir -p ${folder}) or save to another path`,
    });
  }
}

/** Whether the process that named a temp `<name>.tmp-<pid>-...` may still be writing it. */
function writerAlive(pid: number): boolean {
  if (pid === process.pid || !Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes `<name>.tmp-*` siblings of `path`: temps of saves that were killed before their rename.
 * Only this target's temps, and never one being written now (by this process, or by another
 * process that is still alive).
 */
async function removeStaleTemps(path: string, keep: string): Promise<void> {
  const folder = dirname(path);
  const prefix = `${basename(path)}${TEMP_MARK}`;
  const entries = await readdir(folder).catch(() => [] as string[]);
  await Promise.all(
    entries
      .filter((e) => e.startsWith(prefix) && join(folder, e) !== keep && !inFlight.has(join(folder, e)))
      .filter((e) => !writerAlive(Number(e.slice(prefix.length).split('-')[0])))
      .map((e) => rm(join(folder, e), { force: true })),
  );
}

/** Temps this process is writing now (concurrent saves to one target must not delete each other's). */
const inFlight = new Set<string>();
let tempCounter = 0;

/** Writes bytes to `path` atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  await checkFolder(path);
  const tmp = `${path}${TEMP_MARK}${process.pid}-${Date.now().toString(36)}-${tempCounter++}`;
  inFlight.add(tmp);
  try {
    await removeStaleTemps(path, tmp);
    try {
      const handle = await open(tmp, 'w');
      try {
        await handle.writeFile(bytes);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await rename(tmp, path);
    } catch (cause) {
      await rm(tmp, { force: true });
      throw new NatgradError('INVALID_ARGUMENT', `Cannot write checkpoint ${path}.`, {
        expected: `a writable folder ${dirname(path)} with room for ${bytes.length} bytes`,
        received: (cause as NodeJS.ErrnoException).code ?? String(cause),
        fix: 'check the folder\'s permissions and free disk space, or save to another path',
        cause,
      });
    }
  } finally {
    inFlight.delete(tmp);
  }
}

export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (cause) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `Cannot read the checkpoint file ${path}.`, {
      expected: `a readable file at ${path}`,
      received: String((cause as Error).message ?? cause),
      fix: 'check the path; checkpoint files are written by saveCheckpoint(trainer, path) from @natgrad/trainer/node',
      cause,
    });
  }
}

/** The same error with the file named first, so a CLI or log line says which checkpoint failed. */
function naming(path: string, err: unknown): unknown {
  if (!(err instanceof NatgradError) || err.message.includes(path)) return err;
  const summary = err.message.split('\n')[0];
  return new NatgradError(err.code, `${path}: ${summary}`, { expected: err.expected, received: err.received, fix: err.fix, cause: err });
}

/** What the checkpoint files need of a Trainer (the byte-level checkpoint calls of the main entry). */
export interface CheckpointableTrainer {
  toCheckpointBytes(options?: { progress?: JsonValue }): Promise<Uint8Array>;
  /** In distributed mode rank 0 passes the bytes and the other ranks null. */
  restoreCheckpoint(bytes: Uint8Array | null): Promise<JsonValue>;
  /** Set in distributed mode (Trainer.distributed): only rank 0 touches the file. */
  readonly distributed?: { readonly rank: number } | null;
}

/** Options of saveCheckpoint(). */
export interface SaveCheckpointOptions {
  /** The caller's JSON record stored inside the checkpoint (see Trainer.toCheckpointBytes). */
  progress?: JsonValue;
}

/**
 * Writes `trainer`'s checkpoint to `path` atomically (temp file, fsync, rename), with the optional
 * progress record inside it, and removes temps left by earlier saves to `path` that were killed.
 * In distributed mode every rank calls it (the checkpoint is collective) and only rank 0 writes.
 */
export async function saveCheckpoint(trainer: CheckpointableTrainer, path: string, options: SaveCheckpointOptions = {}): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = await trainer.toCheckpointBytes(options.progress === undefined ? undefined : { progress: options.progress });
  } catch (err) {
    throw naming(path, err);
  }
  if ((trainer.distributed?.rank ?? 0) === 0) await writeFileAtomic(path, bytes);
}

/**
 * Restores a checkpoint file written by saveCheckpoint() into `trainer` (all-or-nothing), including
 * any inverse cache to rebuild, and returns its progress record (null when none was stored).
 * In distributed mode every rank calls it: rank 0 reads the file and the trainer sends its bytes
 * to the others (the path need not exist on their machines).
 */
export async function loadCheckpoint(trainer: CheckpointableTrainer, path: string): Promise<JsonValue> {
  const distributed = trainer.distributed ?? null;
  let bytes: Uint8Array | null = null;
  if (distributed === null || distributed.rank === 0) {
    try {
      bytes = await readFileBytes(path);
    } catch (err) {
      // The peers wait for rank 0's bytes: a restore without them aborts the job (its own
      // INVALID_ARGUMENT is expected and replaced by the file's error, the cause).
      if (distributed !== null) await trainer.restoreCheckpoint(null).catch(() => undefined);
      throw err;
    }
  }
  try {
    return await trainer.restoreCheckpoint(bytes);
  } catch (err) {
    throw naming(path, err);
  }
}

/** The progress record of a checkpoint file, every checksum verified, without a trainer. */
export async function readCheckpointFileProgress(path: string): Promise<JsonValue> {
  const bytes = await readFileBytes(path);
  try {
    return readCheckpointProgress(bytes);
  } catch (err) {
    throw naming(path, err);
  }
}
