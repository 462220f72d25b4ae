/**
 * `natgrad bench step`: the per-step cost of each optimizer on one model and batch size, the
 * measurement behind the paper's claim (arXiv 2508.13898, Sec. 5) that FOP costs about what KFAC
 * costs. Every optimizer gets its own Trainer built exactly as `natgrad train` builds it
 * (makeComposition), and the steps are interleaved round by round, with the order rotated each
 * round, so machine noise (other processes, thermal changes) lands on all optimizers alike and
 * the ratio of medians stays meaningful on a shared machine. Inputs are synthetic (seeded normal
 * pixels, random one-hot labels of the dataset's shape): timing does not depend on the values.
 *
 * Reported per optimizer: median, IQR and mean step time over the timed steps, the mean of each
 * Trainer phase (so the phases add up to the mean, which includes the amortised statistics and
 * inverse refreshes that a median skips when they run every N steps), ratios to SGD (of medians,
 * of means, and the median of per-round ratios, which cancels load drift between rounds), and the
 * peak tensor memory of one step: tf.profile's peakBytes (the engine's byte count after every
 * kernel, i.e. everything live: weights, optimizer and curvature state, inputs, intermediates),
 * measured on a separate, untimed step that refreshes statistics and inverses.
 */
import { NatgradError } from '@natgrad/core';
import { KfacEstimator } from '@natgrad/curvature';
import { type PhaseTimings, Trainer } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import type { TrainConfig } from '../flags/train-flags';
import { buildModel, countParams } from '../models/index';
import { makeComposition } from '../optimizer';
import { type StatisticsPlacement, estimateGramMacs, placeStatistics, statisticsOverlapSteps } from '../statistics-worker';

/** Phases the table shows; 'adapt' (Levenberg-Marquardt's extra forward) is folded into update. */
export const BENCH_PHASES = ['forwardBackward', 'statistics', 'inverses', 'projection', 'update'] as const;
export type BenchPhase = (typeof BENCH_PHASES)[number];

export interface StepBenchOptions {
  /** One train config per optimizer, in table order (label = config.optimizer unless given). */
  configs: { label: string; config: TrainConfig }[];
  steps: number;
  warmup: number;
  /**
   * Consecutive steps per optimizer turn. With a statistics worker, statistics overlap the
   * following steps, so only a run of consecutive steps shows the sustained cost: each turn ends by
   * waiting for the worker, and that wait is counted in the turn's last step. Default: the inverse
   * interval when a row's worker overlaps statistics across steps and it divides `steps`, else 1.
   */
  block?: number;
  inputShape: [number, number, number];
  numClasses: number;
}

export interface OptimizerStepStats {
  label: string;
  optimizer: string;
  curvature: string;
  projection: string;
  /** Step times (ms) of the timed steps, in step order. */
  samplesMs: number[];
  medianMs: number;
  q1Ms: number;
  q3Ms: number;
  iqrMs: number;
  meanMs: number;
  /** Mean of each phase over the timed steps (ms). */
  phasesMs: Record<BenchPhase, number>;
  /** medianMs / SGD's medianMs (null without an sgd row). */
  ratioMedian: number | null;
  /** meanMs / SGD's meanMs (null without an sgd row). */
  ratioMean: number | null;
  /**
   * Median over rounds of (this step / SGD's step of the same round): steps of one round run
   * back to back, so a load change between rounds cancels out (null without an sgd row).
   */
  ratioPaired: number | null;
  /** tf.profile peakBytes of one statistics+inverse step, counting only this optimizer's tensors. */
  peakBytes: number;
  /** Bytes this optimizer holds between steps (weights, optimizer and curvature state, the input batch). */
  residentBytes: number;
  statisticsSteps: number;
  inverseSteps: number;
  /** Whether the KFAC statistics ran on a worker thread. */
  statisticsWorker: boolean;
}

export interface StepBenchResult {
  backend: string;
  model: string;
  parameters: number;
  batch: number;
  steps: number;
  warmup: number;
  /** Consecutive steps per optimizer turn. */
  block: number;
  factorEvery: number;
  inverseEvery: number;
  fisher: string;
  inputs: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string; loadAverage: number[] };
  optimizers: OptimizerStepStats[];
}

/** Linear-interpolated quantile of sorted values (q in [0, 1]). */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

function syntheticBatch(batch: number, inputShape: [number, number, number], numClasses: number, seed: number): { x: tf.Tensor; y: tf.Tensor } {
  return tf.tidy(() => {
    const x = tf.randomNormal([batch, ...inputShape], 0, 1, 'float32', seed);
    const labels = tf.randomUniform([batch], 0, numClasses, 'int32', seed + 1);
    return { x, y: tf.cast(tf.oneHot(labels, numClasses), 'float32') };
  });
}

interface Runner {
  label: string;
  config: TrainConfig;
  model: tf.LayersModel;
  trainer: Trainer;
  x: tf.Tensor;
  y: tf.Tensor;
  timings: PhaseTimings[];
  statistics: StatisticsPlacement;
  peakBytes: number;
  residentBytes: number;
  statisticsSteps: number;
  inverseSteps: number;
}

function checkOptions(o: StepBenchOptions): void {
  const problems: string[] = [];
  if (o.configs.length === 0) problems.push('no optimizer');
  if (!Number.isInteger(o.steps) || o.steps < 1) problems.push(`steps ${o.steps}`);
  if (o.block !== undefined && (!Number.isInteger(o.block) || o.block < 1 || o.steps % o.block !== 0)) problems.push(`block ${o.block} (an integer >= 1 dividing steps ${o.steps})`);
  if (!Number.isInteger(o.warmup) || o.warmup < 0) problems.push(`warmup ${o.warmup}`);
  const batches = new Set(o.configs.map((c) => c.config.batch));
  if (batches.size > 1) problems.push(`different batch sizes ${[...batches].join(', ')}`);
  if (problems.length > 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'Invalid step benchmark options.', {
      expected: 'at least one optimizer, steps >= 1, warmup >= 0, a block that divides steps, one batch size for all optimizers',
      received: problems.join('; '),
      fix: 'pass --optimizers a,b --steps N (>= 1) --warmup N (>= 0)',
    });
  }
}

/** Runs the interleaved benchmark on the current tfjs backend; leaves no tensor behind. */
export async function runStepBench(o: StepBenchOptions, onRound?: (done: number, total: number) => void): Promise<Omit<StepBenchResult, 'machine' | 'inputs'>> {
  checkOptions(o);
  const batch = o.configs[0].config.batch;
  const runners: Runner[] = [];
  let parameters = 0;
  let block = 1;
  try {
    for (const [i, { label, config }] of o.configs.entries()) {
      // Bytes already held (other optimizers' runners) are subtracted, so each row is its own.
      const baseline = tf.memory().numBytes;
      const model = buildModel(config.model, { inputShape: o.inputShape, numClasses: o.numClasses, seed: config.seed, outputActivation: 'softmax', width: config.width ?? undefined });
      let trainer: Trainer;
      let statistics: StatisticsPlacement | undefined;
      try {
        statistics = await placeStatistics(config, tf.getBackend(), estimateGramMacs(model, config.batch));
        // stepsPerEpoch only shapes lr/damping schedules; one "epoch" per timed run is enough.
        trainer = new Trainer({ model, loss: 'categoricalCrossentropy', seed: config.seed, metrics: ['accuracy'], ...makeComposition(config, o.warmup + o.steps + 1, statistics.worker) });
      } catch (e) {
        model.dispose();
        await statistics?.worker?.terminate();
        throw e;
      }
      const { x, y } = syntheticBatch(batch, o.inputShape, o.numClasses, config.seed * 7919 + i);
      const r: Runner = { label, config, model, trainer, x, y, timings: [], statistics, peakBytes: 0, residentBytes: 0, statisticsSteps: 0, inverseSteps: 0 };
      runners.push(r);
      // The memory step: step 0 always updates statistics and refreshes inverses, and it
      // allocates the optimizer state, so its peak is the step's high-water mark. It counts as
      // warm-up and is never timed (profiling reads every kernel's output).
      const info = await tf.profile(async () => {
        await trainer.step(x, y);
      });
      r.peakBytes = Math.max(info.peakBytes, tf.memory().numBytes) - baseline;
      r.residentBytes = tf.memory().numBytes - baseline;
    }
    parameters = countParams(runners[0].model);
    const inverseEvery = o.configs[0].config.inverseEvery;
    block = o.block ?? (runners.some(overlapsAcrossSteps) && o.steps % inverseEvery === 0 ? inverseEvery : 1);
    const warmupRounds = Math.ceil(Math.max(0, o.warmup - 1) / block);
    const total = warmupRounds + o.steps / block;
    for (let round = 0; round < total; round++) {
      const timed = round >= warmupRounds;
      for (let k = 0; k < runners.length; k++) {
        const r = runners[(round + k) % runners.length];
        for (let s = 0; s < block; s++) {
          const result = await r.trainer.step(r.x, r.y);
          const timings = { ...result.timings };
          if (s === block - 1) {
            const wait = waitForStatistics(r);
            timings.statistics += wait;
            timings.total += wait;
          }
          if (timed) {
            r.timings.push(timings);
            if (result.statisticsUpdated) r.statisticsSteps++;
            if (result.inversesRefreshed) r.inverseSteps++;
          }
        }
      }
      onRound?.(round + 1, total);
      // Lets progress output through between rounds.
      await new Promise((res) => setImmediate(res));
    }
  } finally {
    for (const r of runners) {
      r.trainer.dispose();
      r.model.dispose();
      tf.dispose([r.x, r.y]);
      await r.statistics.worker?.terminate();
    }
  }
  const stats = runners.map((r) => summarise(r));
  const sgd = stats.find((s) => s.optimizer === 'sgd' && s.curvature === 'none');
  for (const s of stats) {
    s.ratioMedian = sgd ? s.medianMs / sgd.medianMs : null;
    s.ratioMean = sgd ? s.meanMs / sgd.meanMs : null;
    s.ratioPaired = sgd ? quantile(s.samplesMs.map((v, i) => v / sgd.samplesMs[i]).sort((a, b) => a - b), 0.5) : null;
  }
  const c = o.configs[0].config;
  return {
    backend: tf.getBackend(),
    model: c.model,
    parameters,
    batch,
    steps: o.steps,
    warmup: o.warmup,
    block,
    factorEvery: c.factorEvery,
    inverseEvery: c.inverseEvery,
    fisher: c.fisher,
    optimizers: stats,
  };
}

/** Whether a runner's worker can still be busy with one step's statistics during its next steps. */
function overlapsAcrossSteps(r: Runner): boolean {
  return r.statistics.worker !== undefined && statisticsOverlapSteps(r.config);
}

/** Waits for a runner's statistics worker (if any) to finish; returns the ms waited. */
function waitForStatistics(r: Runner): number {
  const curvature = r.trainer.curvature;
  if (r.statistics.worker === undefined || !(curvature instanceof KfacEstimator)) return 0;
  const start = performance.now();
  curvature.waitForStatistics();
  return performance.now() - start;
}

function summarise(r: Runner): OptimizerStepStats {
  const samples = r.timings.map((t) => t.total);
  const sorted = [...samples].sort((a, b) => a - b);
  const mean = (f: (t: PhaseTimings) => number) => r.timings.reduce((s, t) => s + f(t), 0) / r.timings.length;
  const phasesMs = {
    forwardBackward: mean((t) => t.forwardBackward),
    statistics: mean((t) => t.statistics),
    inverses: mean((t) => t.inverses),
    projection: mean((t) => t.projection),
    update: mean((t) => t.update + t.adapt),
  };
  const q1 = quantile(sorted, 0.25);
  const q3 = quantile(sorted, 0.75);
  return {
    label: r.label,
    optimizer: r.config.optimizer,
    curvature: r.config.curvature,
    projection: r.config.projection,
    samplesMs: samples,
    medianMs: quantile(sorted, 0.5),
    q1Ms: q1,
    q3Ms: q3,
    iqrMs: q3 - q1,
    meanMs: mean((t) => t.total),
    phasesMs,
    ratioMedian: null,
    ratioMean: null,
    ratioPaired: null,
    peakBytes: r.peakBytes,
    residentBytes: r.residentBytes,
    statisticsSteps: r.statisticsSteps,
    inverseSteps: r.inverseSteps,
    statisticsWorker: r.statistics.worker !== undefined,
  };
}

const ms = (v: number) => (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2));
const ratio = (v: number | null) => (v === null ? '–' : `${v.toFixed(2)}x`);
const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)}`;

/** The markdown table of a result (times in ms, memory in MiB). */
export function stepBenchTable(r: StepBenchResult): string {
  const header =
    '| optimizer | median ms | IQR ms | mean ms | fwd/bwd | statistics | inverses | projection | update | median / SGD | mean / SGD | paired / SGD | peak MiB | resident MiB |';
  const sep = '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|';
  const rows = r.optimizers.map(
    (s) =>
      `| ${s.label} | ${ms(s.medianMs)} | ${ms(s.iqrMs)} | ${ms(s.meanMs)} | ${BENCH_PHASES.map((p) => ms(s.phasesMs[p])).join(' | ')} | ${ratio(s.ratioMedian)} | ${ratio(s.ratioMean)} | ${ratio(s.ratioPaired)} | ${mib(s.peakBytes)} | ${mib(s.residentBytes)} |`,
  );
  const caption = `${r.model} (${r.parameters} parameters), batch ${r.batch}, backend ${r.backend}, ${r.steps} timed steps after ${r.warmup} warm-up${(r.block ?? 1) > 1 ? ` in turns of ${r.block} consecutive steps per optimizer (a turn ends by waiting for the statistics worker, counted in its last step)` : ''}, statistics every ${r.factorEvery} / inverses every ${r.inverseEvery} steps, ${r.fisher} Fisher, ${r.inputs}. Phases are means over the timed steps (ms); paired = median over rounds of the step / the SGD step of the same round.${r.optimizers.some((o) => o.statisticsWorker) ? ' ":worker": KFAC statistics on a worker thread (second core), bit-identical to ":inline".' : ''}`;
  return `${caption}\n\n${[header, sep, ...rows].join('\n')}`;
}
