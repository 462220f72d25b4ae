/**
 * Checkpoint files for Node: a trainer's checkpoint bytes (Trainer.toCheckpointBytes) written to a
 * temporary path in the same folder, flushed, then renamed over the target, so a crash never leaves
 * a half-written checkpoint under the real name; and read back with restoreCheckpoint(). Kept out
 * of the main entry, which has no file system (it bundles for browsers).
 */
import { open, readFile, rename, rm } from 'node:fs/promises';
import { NatgradError } from '@natgrad/core';

/** Writes bytes to `path` atomically: temp file in the same directory, fsync, rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Date.now().toString(36)}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(bytes);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

export async function readFileBytes(path: string): Promise<Uint8Array> {
  try {
    const buf = await readFile(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (cause) {
    throw new NatgradError('CHECKPOINT_CORRUPT', 'Cannot read the checkpoint file.', {
      expected: `a readable file at ${path}`,
      received: String((cause as Error).message ?? cause),
      fix: 'check the path; checkpoint files are written by saveCheckpoint(trainer, path) from @natgrad/trainer/node',
      cause,
    });
  }
}

/** What the checkpoint files need of a Trainer (the byte-level checkpoint calls of the main entry). */
export interface CheckpointableTrainer {
  toCheckpointBytes(): Promise<Uint8Array>;
  restoreCheckpoint(bytes: Uint8Array): Promise<void>;
}

/** Writes `trainer`'s checkpoint to `path` atomically (temp file, fsync, rename). */
export async function saveCheckpoint(trainer: CheckpointableTrainer, path: string): Promise<void> {
  await writeFileAtomic(path, await trainer.toCheckpointBytes());
}

/**
 * Restores a checkpoint file written by saveCheckpoint() into `trainer` (all-or-nothing), including
 * any inverse cache to rebuild.
 */
export async function loadCheckpoint(trainer: CheckpointableTrainer, path: string): Promise<void> {
  await trainer.restoreCheckpoint(await readFileBytes(path));
}
