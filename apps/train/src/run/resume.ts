/**
 * Opening a run folder to continue it: the resumable flags only, the folder's lock, then every file
 * the resume reads validated (config.json with the flags' validator, the checkpoint's checksums and
 * the progress inside it, metrics.jsonl) while nothing is written. A refused resume releases the
 * lock it took, so the folder is left exactly as it was.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { FlagError } from '../flags/flag-error';
import { RESUMABLE_FLAGS, type TrainConfig, type TrainInvocation } from '../flags/train-flags';
import { type EpochRecord, readMetrics } from './metrics';
import { type RunPaths, readConfig, runPaths } from './run-dir';
import { type RunLock, acquireRunLock } from './run-lock';
import { CHECKPOINT_FILE, type RunProgress, readRunProgress } from './run-state';
import { validateStoredConfig } from './stored-config';

export interface Resumed {
  config: TrainConfig;
  paths: RunPaths;
  progress: RunProgress;
  /** metrics.jsonl records up to the checkpoint's epoch. */
  records: EpochRecord[];
  /** Training seconds up to the checkpoint (its epoch's record; 0 when metrics.jsonl lost it). */
  elapsedSeconds: number;
}

/**
 * Resolves the run to continue: its stored config (validated like the flags) with the few flags a
 * resume may change, and the progress stored in its checkpoint. Reads only; the caller holds the lock.
 */
async function resumeRun(dir: string, flags: TrainInvocation): Promise<Resumed> {
  const paths = runPaths(dir);
  const stored = validateStoredConfig(paths.config, readConfig(dir).config);
  if (!existsSync(join(paths.checkpoint, CHECKPOINT_FILE))) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `Run ${paths.dir} has no complete checkpoint to resume from.`, {
      expected: join(paths.checkpoint, CHECKPOINT_FILE),
      received: 'no such file (the run stopped before its first epoch ended)',
      fix: 'start a new run instead',
    });
  }
  const progress = await readRunProgress(paths.checkpoint);
  const config: TrainConfig = { ...stored };
  if (flags.explicit.has('epochs')) config.epochs = flags.config.epochs;
  if (flags.explicit.has('backend')) config.backend = flags.config.backend;
  if (flags.explicit.has('statistics-worker')) config.statisticsWorker = flags.config.statisticsWorker;
  if (flags.explicit.has('target-accuracy')) config.targetAccuracy = flags.config.targetAccuracy;
  if (config.epochs <= progress.epoch) {
    throw new FlagError('train', [{ flag: 'epochs', message: `the run already finished ${progress.epoch} epochs; pass --epochs greater than ${progress.epoch} to continue it` }]);
  }
  // Epochs logged after the last checkpoint are redone; an append killed midway is dropped.
  const records = readMetrics(paths.metrics, { tornTail: true }).filter((r) => r.epoch <= progress.epoch);
  const elapsedSeconds = records.find((r) => r.epoch === progress.epoch)?.elapsedSeconds ?? 0;
  return { config, paths, progress, records, elapsedSeconds };
}

function refuseChangedFlags(flags: TrainInvocation): void {
  const changed = [...flags.explicit].filter((f) => !RESUMABLE_FLAGS.has(f));
  if (changed.length > 0) {
    throw new FlagError(
      'train',
      changed.map((flag) => ({ flag, message: `cannot be changed when resuming (the run's config.json fixes it); with --resume only --epochs, --backend, --statistics-worker, --target-accuracy, --distributed and --json are allowed` })),
    );
  }
}

/** Takes the run's lock and validates everything a resume reads; on failure the lock is released. */
export async function openResume(dir: string, flags: TrainInvocation): Promise<{ lock: RunLock; resumed: Resumed }> {
  refuseChangedFlags(flags);
  readConfig(dir); // a run folder at all, before a lock file is created in it
  const lock = acquireRunLock(runPaths(dir).dir);
  try {
    return { lock, resumed: await resumeRun(dir, flags) };
  } catch (err) {
    lock.release();
    throw err;
  }
}
