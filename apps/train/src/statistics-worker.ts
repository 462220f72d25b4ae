/**
 * `--statistics-worker auto|on|off`: whether KFAC's factor statistics run on a worker thread
 * (@natgrad/backends' createStatisticsWorker; bit-identical to the main thread on the same backend).
 * tfjs's wasm backend uses one core in Node, so on a machine with two or more cores the Gram products
 * can run beside the training step instead of inside it. 'auto' turns it on where that pays: KFAC
 * curvature, wasm backend, at least two cores, something to overlap (FOP's F·g_avg; KFAC's
 * statistics between inverse refreshes), and at least AUTO_MIN_GRAM_MACS of Gram products per
 * statistics step (below that the copies and the second thread's memory traffic cost about what
 * they save: the 7.7k-parameter MNIST CNN at batch 128, 0.16 GMAC, trained 7% slower with the worker,
 * the MLP-512 at batch 4096, 5.2 GMAC, 40% faster per step; the same CNN at batch 1024, 1.26 GMAC,
equal epoch times after the first: its step is mostly convolutions and patch copies; docs/benchmarks.md). Inside the single-file bundle the thread runs the
 * statistics-worker-thread.cjs that `natgrad bundle` writes beside natgrad.cjs.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as tf from '@tensorflow/tfjs';
import { createStatisticsWorker } from '@natgrad/backends/node';
import { NatgradError, type StatisticsWorker } from '@natgrad/core';
import type { TrainConfig } from './flags/train-flags';

export const BUNDLED_WORKER_FILE = 'statistics-worker-thread.cjs';

/** Gram multiply-adds per statistics step from which 'auto' uses the worker. */
export const AUTO_MIN_GRAM_MACS = 1e9;

/**
 * KFAC's Gram products per statistics step of a model: sum over Dense and Conv2D layers of
 * rows x (P^2 + O^2), rows = batch x output locations, P = inputs per output (+1 for a bias),
 * O = outputs. An estimate for the 'auto' decision (the trainer's registration decides the real set).
 */
export function estimateGramMacs(model: tf.LayersModel, batch: number): number {
  let macs = 0;
  for (const layer of model.layers) {
    const config = layer.getConfig() as { units?: number; filters?: number; kernelSize?: number | number[]; useBias?: boolean };
    const bias = config.useBias === false ? 0 : 1;
    const input = (layer.inputSpec?.[0]?.shape ?? (layer.input as tf.SymbolicTensor).shape) as (number | null)[];
    const output = (layer.output as tf.SymbolicTensor).shape as (number | null)[];
    if (layer.getClassName() === 'Dense' && config.units !== undefined) {
      const rows = batch * output.slice(1, -1).reduce<number>((a, d) => a * (d ?? 1), 1);
      const p = (input[input.length - 1] ?? 0) + bias;
      macs += rows * (p * p + config.units * config.units);
    } else if (layer.getClassName() === 'Conv2D' && config.filters !== undefined) {
      const k = Array.isArray(config.kernelSize) ? config.kernelSize : [config.kernelSize ?? 1, config.kernelSize ?? 1];
      const rows = batch * (output[1] ?? 1) * (output[2] ?? 1);
      const p = k[0] * k[1] * (input[3] ?? 1) + bias;
      macs += rows * (p * p + config.filters * config.filters);
    }
  }
  return macs;
}

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
function obstacle(config: PlacementConfig, backend: string, cores: number): string | null {
  if (config.curvature !== 'kfac') return `curvature ${config.curvature} (the worker computes KFAC statistics)`;
  if (backend !== 'wasm' && backend !== 'cpu') return `backend ${backend} (GPU backends compute the statistics on the device)`;
  if (cores < 2) return `${cores} core available`;
  return null;
}

/**
 * Whether a worker's statistics of one step can still run during the following steps: KFAC-like
 * projections read the factors only at inverse refreshes, so statistics between refreshes overlap
 * later steps. FOP reads them within the step (its F·g_avg, which then runs on the worker too).
 */
export function statisticsOverlapSteps(config: Pick<TrainConfig, 'projection' | 'factorEvery' | 'inverseEvery'>): boolean {
  return config.projection !== 'fop' && config.factorEvery % config.inverseEvery !== 0;
}

/**
 * Why the worker could not overlap anything with this composition (it would only add copies), or
 * null. FOP always gains: its F·g_avg runs on the worker while the main thread preconditions; KFAC
 * only when its statistics overlap later steps (statisticsOverlapSteps).
 */
function nothingToOverlap(config: PlacementConfig, gramMacs: number): string | null {
  const f = config.factorEvery ?? 1;
  const i = config.inverseEvery ?? 10;
  if (config.projection !== 'fop' && !statisticsOverlapSteps({ projection: config.projection ?? 'identity', factorEvery: f, inverseEvery: i })) return `statistics only on inverse-refresh steps (--factor-every ${f}, --inverse-every ${i})`;
  if (gramMacs < AUTO_MIN_GRAM_MACS) return `${(gramMacs / 1e9).toFixed(2)} GMAC of statistics per step, under the ${AUTO_MIN_GRAM_MACS / 1e9} GMAC where a worker pays`;
  return null;
}

type PlacementConfig = Pick<TrainConfig, 'curvature' | 'statisticsWorker'> & Partial<Pick<TrainConfig, 'projection' | 'factorEvery' | 'inverseEvery'>>;

export async function placeStatistics(
  config: PlacementConfig,
  backend: string,
  gramMacs: number,
  cores: number = availableParallelism(),
): Promise<StatisticsPlacement> {
  const mode = config.statisticsWorker ?? 'auto';
  if (mode === 'off') return { worker: undefined, line: 'statistics: main thread (--statistics-worker off)' };
  // `on` overrides the rules about what pays, not the ones about what is possible.
  const why = obstacle(config, backend, cores) ?? (mode === 'on' ? null : nothingToOverlap(config, gramMacs));
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
