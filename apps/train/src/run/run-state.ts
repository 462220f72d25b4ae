/**
 * The resume state of a run as one unit: the trainer checkpoint holds the run's progress record
 * (epoch, step, best epoch) inside its checksummed bytes, so a kill between two
 * writes can no longer pair a checkpoint with the progress of another epoch, and an edited header
 * is refused by the checksum. checkpoint/progress.json is a human-readable mirror written after
 * the checkpoint and never read. checkpoint/best.ckpt is the checkpoint of the epoch with the best
 * test accuracy so far (the same bytes as trainer.ckpt had then).
 */
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { type JsonValue, NatgradError } from '@natgrad/core';
import type { Trainer } from '@natgrad/trainer';
import { loadCheckpoint, readCheckpointFileProgress, saveCheckpoint } from '@natgrad/trainer/node';

export const CHECKPOINT_FILE = 'trainer.ckpt';
export const BEST_CHECKPOINT_FILE = 'best.ckpt';
export const PROGRESS_MIRROR_FILE = 'progress.json';

export interface BestEpoch {
  epoch: number;
  testAccuracy: number;
}

/**
 * What a run checkpoint records besides the trainer state. Only what the training itself
 * determines: no timings, so a run interrupted and resumed writes the same checkpoint bytes as an
 * uninterrupted one (the training seconds are read back from metrics.jsonl).
 */
export interface RunProgress {
  /** Epochs completed (1-based count). */
  epoch: number;
  /** Optimisation steps completed. */
  step: number;
  best: BestEpoch | null;
}

function invalid(file: string, what: string, value: unknown): NatgradError {
  return new NatgradError('CHECKPOINT_CORRUPT', `Invalid run progress in ${file}.`, {
    expected: 'the progress record natgrad train stores inside its checkpoint: {epoch >= 1, step >= 0, best}',
    received: `${what}: ${JSON.stringify(value) ?? String(value)}`,
    fix: 'restore the checkpoint folder from a copy of the run, or start a new run',
  });
}

const isCount = (v: unknown, min: number): v is number => typeof v === 'number' && Number.isInteger(v) && v >= min;

/** Checks a progress record read from `file`; the error names the file and the bad field. */
export function validateProgress(file: string, value: JsonValue | undefined): RunProgress {
  if (value === null || value === undefined || typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(file, 'record', value ?? null);
  }
  const r = value as Record<string, JsonValue>;
  if (!isCount(r.epoch, 1)) throw invalid(file, 'epoch', r.epoch);
  if (!isCount(r.step, 0)) throw invalid(file, 'step', r.step);
  let best: BestEpoch | null = null;
  if (r.best !== null && r.best !== undefined) {
    const b = r.best as Record<string, JsonValue>;
    if (typeof b !== 'object' || !isCount(b.epoch, 1) || b.epoch > r.epoch || typeof b.testAccuracy !== 'number' || !(b.testAccuracy >= 0 && b.testAccuracy <= 1)) {
      throw invalid(file, 'best', r.best);
    }
    best = { epoch: b.epoch, testAccuracy: b.testAccuracy };
  }
  return { epoch: r.epoch, step: r.step, best };
}

/** The progress of a run's checkpoint, every checksum verified, read without a trainer. */
export async function readRunProgress(checkpointDir: string): Promise<RunProgress> {
  const file = join(checkpointDir, CHECKPOINT_FILE);
  const record = await readCheckpointFileProgress(file);
  if (record === null) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${file} holds no run progress.`, {
      expected: 'a checkpoint written by natgrad train (it stores the epoch reached inside the file)',
      received: 'a checkpoint without a progress record (written by saveCheckpoint() without one)',
      fix: 'resume only run folders written by natgrad train, or start a new run',
    });
  }
  return validateProgress(file, record);
}

/**
 * Restores the checkpoint into `trainer` and checks that it is the state `expected` describes
 * (the record read before the model was built) and that the trainer's counters agree with it.
 */
export async function restoreRun(trainer: Trainer, checkpointDir: string, expected: RunProgress): Promise<void> {
  const file = join(checkpointDir, CHECKPOINT_FILE);
  const restored = validateProgress(file, await loadCheckpoint(trainer, file));
  if (JSON.stringify(restored) !== JSON.stringify(expected) || trainer.epoch !== restored.epoch || trainer.stepCount !== restored.step) {
    throw new NatgradError('CHECKPOINT_MISMATCH', `${file} changed while it was being resumed, or its progress disagrees with its trainer state.`, {
      expected: `epoch ${expected.epoch}, step ${expected.step}`,
      received: `progress epoch ${restored.epoch}, step ${restored.step}; trainer epoch ${trainer.epoch}, step ${trainer.stepCount}`,
      fix: 'make sure no other process writes the run folder, then resume again',
    });
  }
}

/**
 * restoreRun for the ranks of a distributed run: the restore is collective (rank 0 passes the
 * checkpoint's bytes, which it read and validated, the other ranks null and receive them), and
 * every rank checks the restored state against the progress rank 0 read. Errors name the file.
 */
export async function restoreRunCollective(trainer: Trainer, checkpointDir: string, bytes: Uint8Array | null, expected: RunProgress): Promise<void> {
  const file = join(checkpointDir, CHECKPOINT_FILE);
  let record: JsonValue;
  try {
    // Ranks other than 0 pass null: the trainer's collective restore broadcasts rank 0's bytes.
    record = await trainer.restoreCheckpoint(bytes);
  } catch (err) {
    if (!(err instanceof NatgradError) || err.message.includes(file)) throw err;
    throw new NatgradError(err.code, `${file}: ${err.message.split('\n')[0]}`, { expected: err.expected, received: err.received, fix: err.fix, cause: err });
  }
  const restored = validateProgress(file, record);
  if (JSON.stringify(restored) !== JSON.stringify(expected) || trainer.epoch !== restored.epoch || trainer.stepCount !== restored.step) {
    throw new NatgradError('CHECKPOINT_MISMATCH', `${file} changed while it was being resumed, or its progress disagrees with its trainer state.`, {
      expected: `epoch ${expected.epoch}, step ${expected.step}`,
      received: `progress epoch ${restored.epoch}, step ${restored.step}; trainer epoch ${trainer.epoch}, step ${trainer.stepCount}`,
      fix: 'make sure no other process writes the run folder, then resume again',
    });
  }
}

/**
 * Writes best.ckpt (when `isBest`) and then trainer.ckpt, with the progress inside, each atomically.
 * `saved` runs as soon as trainer.ckpt is in place, so an interrupt from then on names the new epoch.
 * The trainer's bytes are made once and written to both files. With `write` false (the ranks other
 * than 0 of a distributed run) only the bytes are made: in a distributed trainer that call is
 * collective (it gathers the curvature shards), so every rank makes it, and only rank 0 writes.
 */
export async function saveRun(trainer: Trainer, checkpointDir: string, progress: RunProgress, isBest: boolean, saved: () => void = () => {}, write = true): Promise<void> {
  const record = progress as unknown as JsonValue;
  const bytes = await trainer.toCheckpointBytes({ progress: record });
  if (!write) return;
  // saveCheckpoint's atomic write (temp, fsync, rename, stale temps removed) of bytes made once.
  const made = { toCheckpointBytes: async () => bytes, restoreCheckpoint: (b: Uint8Array) => trainer.restoreCheckpoint(b) };
  mkdirSync(checkpointDir, { recursive: true });
  // best.ckpt first: once trainer.ckpt's progress names this epoch as the best, best.ckpt must
  // already hold it. The other order let a kill between the two renames leave best.ckpt an epoch
  // behind the best epoch the resumed run believed it had (found by the fault-injection suite).
  // A kill after best.ckpt but before trainer.ckpt redoes this epoch on resume, which writes the
  // same bytes again (training is deterministic).
  if (isBest) await saveCheckpoint(made, join(checkpointDir, BEST_CHECKPOINT_FILE));
  await saveCheckpoint(made, join(checkpointDir, CHECKPOINT_FILE));
  saved();
}

/**
 * Temps of writes that were killed before their rename: checkpoint saves (`*.ckpt.tmp-*`) and the
 * atomic text files (`config.json.tmp-<pid>`, ...), in the run folder and its checkpoint folder.
 * Called with the run's lock held, so no other process can be writing one. Returns what it removed.
 */
export function removeStaleTemps(...folders: string[]): string[] {
  const removed: string[] = [];
  for (const folder of folders) {
    let entries: string[];
    try {
      entries = readdirSync(folder);
    } catch {
      continue;
    }
    for (const e of entries.filter((name) => /\.tmp-\d+/.test(name))) {
      rmSync(join(folder, e), { force: true });
      removed.push(join(folder, e));
    }
  }
  return removed;
}
