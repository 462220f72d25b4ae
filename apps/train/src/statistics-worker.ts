/**
 * `--statistics-worker auto|on|off`: whether KFAC's factor statistics run on a worker thread
 * (@natgrad/backends' createStatisticsWorker; bit-identical to the main thread on the same backend).
 * tfjs's wasm backend uses one core in Node, so on a machine with two or more cores the Gram products
 * can run beside the training step instead of inside it. 'auto' turns it on exactly then: KFAC
 * curvature, wasm backend, at least two cores. Inside the single-file bundle the thread runs the
 * statistics-worker-thread.cjs that `natgrad bundle` writes beside natgrad.cjs.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createStatisticsWorker } from '@natgrad/backends';
import { NatgradError, type StatisticsWorker } from '@natgrad/core';
import type { TrainConfig } from './flags/train-flags';

export const BUNDLED_WORKER_FILE = 'statistics-worker-thread.cjs';

export interface StatisticsPlacement {
  worker: StatisticsWorker | undefined;
  /** One line for the log: where the statistics run and why. */
  line: string;
}

/** The thread script inside a bundle; undefined in a source checkout (the backends default applies). */
function bundledScript(): string | undefined {
  const file = join(dirname(fileURLToPath(import.meta.url)), BUNDLED_WORKER_FILE);
  return existsSync(file) ? file : undefined;
}

/** Why the worker is not usable here, or null when it is. */
function obstacle(config: Pick<TrainConfig, 'curvature'>, backend: string, cores: number): string | null {
  if (config.curvature !== 'kfac') return `curvature ${config.curvature} (the worker computes KFAC statistics)`;
  if (backend !== 'wasm' && backend !== 'cpu') return `backend ${backend} (GPU backends compute the statistics on the device)`;
  if (cores < 2) return `${cores} core available`;
  return null;
}

export async function placeStatistics(
  config: Pick<TrainConfig, 'curvature' | 'statisticsWorker'>,
  backend: string,
  cores: number = availableParallelism(),
): Promise<StatisticsPlacement> {
  const mode = config.statisticsWorker ?? 'auto';
  if (mode === 'off') return { worker: undefined, line: 'statistics: main thread (--statistics-worker off)' };
  const why = obstacle(config, backend, cores);
  if (why !== null && mode === 'on') {
    throw new NatgradError('INVALID_ARGUMENT', `--statistics-worker on: not possible with ${why}.`, {
      expected: '--curvature kfac on the wasm or cpu backend, with at least 2 cores',
      received: why,
      fix: 'pass --statistics-worker auto (uses it where it helps) or off',
    });
  }
  if (why !== null || (mode === 'auto' && backend !== 'wasm')) {
    return { worker: undefined, line: `statistics: main thread (auto: ${why ?? `backend ${backend}`})` };
  }
  const worker = await createStatisticsWorker({ backend: backend as 'wasm' | 'cpu', script: bundledScript() });
  return { worker, line: `statistics: worker thread (${backend}, ${cores} cores; --statistics-worker off keeps them on the main thread)` };
}
