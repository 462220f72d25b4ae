/**
 * Optimizer step overhead: wall time of Trainer.step for sgd, adamw, kfac, fop, diagonal and
 * diagonalFop on the MLP 784-512-256-10 (relu, softmax) at batch 4096 on the wasm backend with the
 * natgrad training kernels (selectBackend installs them), for two curvature cadences: statistics
 * and inverses every 10 steps, and statistics every step with inverses every 10. The trainers step
 * round-robin on the same batch (one step of each in turn), so load from other processes on the
 * shared machine hits all of them alike and the ratios to SGD stay comparable within the run.
 * Reports the median step and the mean step (the mean includes the statistics/inverse steps, i.e.
 * the amortised cost), both as ratios to SGD, and the mean phase breakdown (timings.ts).
 *   pnpm --filter @natgrad/trainer bench [-- --steps 20 --warmup 2 --batch 4096 --fisher sampled|empirical|both
 *     --only sgd,kfac --backend wasm|cpu|webgpu --count-syncs]
 * --count-syncs patches Tensor.dataSync/data/array/arraySync and reports device reads per step;
 * --profile runs one more step of each optimizer under tf.profile and prints its costliest kernels.
 */
import * as tf from '@tensorflow/tfjs';
import { cpus } from 'node:os';
import { selectBackend } from '@natgrad/backends/node';
import { PHASES, type Phase, Trainer, presets } from '../src/index';
import type { Composition, PresetName } from '../src/index';

const arg = (name: string, fallback: string): string => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const steps = Number(arg('steps', '20'));
const warmup = Number(arg('warmup', '2'));
const batch = Number(arg('batch', '4096'));
const fisherArg = arg('fisher', 'sampled');
const backendArg = arg('backend', 'wasm') as 'wasm' | 'cpu' | 'webgpu';
const only = arg('only', '').split(',').filter((s) => s !== '');
const countSyncs = process.argv.includes('--count-syncs');
const profile = process.argv.includes('--profile');
const SIZES = [784, 512, 256, 10];

interface Case {
  label: string;
  preset: PresetName;
  cadence: string;
  options: Record<string, unknown>;
  trainer?: Trainer;
  model?: tf.LayersModel;
  totals: number[];
  phases: Record<Phase, number>;
  syncs: number;
}

function buildModel(seed: number): tf.LayersModel {
  const model = tf.sequential();
  for (let i = 1; i < SIZES.length; i++) {
    model.add(
      tf.layers.dense({
        units: SIZES[i],
        activation: i === SIZES.length - 1 ? 'softmax' : 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: seed + i }),
        ...(i === 1 ? { inputShape: [SIZES[0]] } : {}),
      }),
    );
  }
  return model;
}

function cases(): Case[] {
  const fishers = fisherArg === 'both' ? ['sampled', 'empirical'] : [fisherArg];
  const out: Case[] = [];
  const add = (preset: PresetName, cadence: string, options: Record<string, unknown>, suffix = '') => {
    const label = `${preset}${suffix}`;
    if (only.length > 0 && !only.includes(preset)) return;
    out.push({ label, preset, cadence, options, totals: [], phases: { forwardBackward: 0, statistics: 0, inverses: 0, projection: 0, update: 0, adapt: 0, communication: 0 }, syncs: 0 });
  };
  add('sgd', '-', {});
  add('adamw', '-', {});
  for (const [cadence, statisticsEvery] of [
    ['stats 10 / inv 10', 10],
    ['stats 1 / inv 10', 1],
  ] as const) {
    for (const preset of ['kfac', 'fop', 'diagonal', 'diagonalFop'] as const) {
      for (const fisher of fishers) {
        add(preset, cadence, { statisticsEvery, inverseEvery: 10, fisher }, fishers.length > 1 || fisher !== 'sampled' ? ` (${fisher})` : '');
      }
    }
  }
  return out;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

let syncCount = 0;
function patchSyncCounter(): void {
  const proto = tf.Tensor.prototype as unknown as Record<string, (...a: unknown[]) => unknown>;
  for (const method of ['dataSync', 'data', 'array', 'arraySync']) {
    const original = proto[method];
    proto[method] = function (this: unknown, ...a: unknown[]) {
      syncCount++;
      return original.apply(this, a);
    };
  }
}

async function main(): Promise<void> {
  const selection = await selectBackend({ prefer: backendArg });
  if (countSyncs) patchSyncCounter();
  const all = cases();
  if (all.length === 0 || all[0].preset !== 'sgd') throw new Error('the SGD baseline must be part of the run (--only must include sgd)');
  const x = tf.randomUniform([batch, SIZES[0]], 0, 1, 'float32', 1);
  const labels = tf.randomUniform([batch], 0, SIZES[3], 'int32', 2);
  const y = tf.oneHot(labels, SIZES[3]);
  labels.dispose();
  all.forEach((c, i) => {
    // Same initial weights for every trainer (seeded initialisers), separate models.
    c.model = buildModel(7);
    const composition: Composition = (presets[c.preset] as (o: Record<string, unknown>) => Composition)(c.options);
    c.trainer = Trainer.fromPreset(c.model, 'categoricalCrossentropy', composition, { seed: i });
  });
  console.log(
    `backend ${selection.tfBackend} (${selection.reason}); MLP ${SIZES.join('-')} batch ${batch}; ${warmup} warm-up + ${steps} timed steps each, round-robin; fisher ${fisherArg}; ${cpus()[0].model} x${cpus().length}, node ${process.version}, tfjs ${tf.version.tfjs}`,
  );
  for (let s = 0; s < warmup + steps; s++) {
    for (const c of all) {
      const before = tf.memory().numTensors;
      const syncsBefore = syncCount;
      const r = await c.trainer!.step(x, y);
      // The first step allocates the estimator's inverse cache; every later step must not grow.
      if (s > 0 && tf.memory().numTensors !== before) throw new Error(`${c.label}: step ${s} changed numTensors ${before} -> ${tf.memory().numTensors}`);
      if (!Number.isFinite(r.loss)) throw new Error(`${c.label}: non-finite loss at step ${s}`);
      if (s < warmup) continue;
      c.totals.push(r.timings.total);
      for (const p of PHASES) c.phases[p] += r.timings[p];
      c.syncs += syncCount - syncsBefore;
    }
    process.stderr.write(`step ${s + 1}/${warmup + steps}\r`);
  }
  process.stderr.write('\n');
  const base = all[0];
  const baseMedian = median(base.totals);
  const baseMean = mean(base.totals);
  const head = ['optimizer', 'cadence', 'median ms', 'median / SGD', 'mean ms', 'mean / SGD', ...PHASES.map((p) => `${p} ms`)];
  if (countSyncs) head.push('reads/step');
  console.log(`| ${head.join(' | ')} |`);
  console.log(`|${head.map(() => '---').join('|')}|`);
  for (const c of all) {
    const row = [
      c.label,
      c.cadence,
      median(c.totals).toFixed(0),
      `${(median(c.totals) / baseMedian).toFixed(2)}x`,
      mean(c.totals).toFixed(0),
      `${(mean(c.totals) / baseMean).toFixed(2)}x`,
      ...PHASES.map((p) => (c.phases[p] / c.totals.length).toFixed(1)),
    ];
    if (countSyncs) row.push((c.syncs / c.totals.length).toFixed(1));
    console.log(`| ${row.join(' | ')} |`);
  }
  if (profile) {
    for (const c of all) {
      const info = await tf.profile(async () => {
        await c.trainer!.step(x, y);
      });
      const byKernel = new Map<string, { ms: number; calls: number }>();
      for (const k of info.kernels) {
        const e = byKernel.get(k.name) ?? { ms: 0, calls: 0 };
        e.ms += typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
        e.calls++;
        byKernel.set(k.name, e);
      }
      const top = [...byKernel.entries()].sort((a, b) => b[1].ms - a[1].ms).slice(0, 8);
      console.log(`${c.label} [${c.cadence}] kernels: ${top.map(([n, e]) => `${n} ${e.ms.toFixed(0)}ms/${e.calls}`).join(', ')}; newTensors ${info.newTensors}`);
    }
  }
  for (const c of all) {
    c.trainer!.dispose();
    c.model!.dispose();
  }
  tf.dispose([x, y]);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
