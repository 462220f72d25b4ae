/**
 * KFAC / diagonal curvature benchmark: time of updateStatistics (factors + EMA), refreshInverses
 * (pi-damped inverses through @natgrad/linalg 'auto', and eigen) and precondition per layer, on the
 * cpu backend at small sizes and the wasm backend at MLP sizes (784-512-256-10, batch 1024).
 * Median of `reps` runs after one warm-up; cpu and wasm execute synchronously, and every timed call
 * ends with a one-element read to be sure (awaited, as every backend allows). Prints a markdown
 * table for docs/benchmarks.md.
 *   pnpm --filter @natgrad/curvature bench [-- --quick]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { cpus } from 'node:os';
import type { Conv2DLayerInfo, DenseLayerInfo, LayerInfo } from '@natgrad/core';
import { diagonal } from '../src/diagonal/estimator';
import { convGeometry } from '../src/kfac/patches';
import { kfac } from '../src/kfac/estimator';

const quick = process.argv.includes('--quick');

interface Case {
  backend: 'cpu' | 'wasm';
  layer: LayerInfo;
  batch: number;
  label: string;
}

function dense(name: string, inputSize: number, outputSize: number): DenseLayerInfo {
  return { kind: 'dense', name, kernel: `${name}/kernel`, bias: `${name}/bias`, inputSize, outputSize };
}

function conv(name: string, size: number, cin: number, cout: number, stride: number): Conv2DLayerInfo {
  const base: Conv2DLayerInfo = {
    kind: 'conv2d', name, kernel: `${name}/kernel`, bias: `${name}/bias`, kernelSize: [3, 3], strides: [stride, stride],
    dilation: [1, 1], padding: 'same', inChannels: cin, outChannels: cout, inputSize: [size, size], outputSize: [0, 0],
  };
  const g = convGeometry(base);
  return { ...base, outputSize: [g.outHeight, g.outWidth] };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

async function time(reps: number, fn: () => unknown): Promise<number> {
  await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  return median(ts);
}

function shapes(layer: LayerInfo, batch: number): { input: number[]; output: number[]; kernel: number[]; out: number } {
  if (layer.kind === 'dense') return { input: [batch, layer.inputSize], output: [batch, layer.outputSize], kernel: [layer.inputSize, layer.outputSize], out: layer.outputSize };
  return {
    input: [batch, ...layer.inputSize, layer.inChannels],
    output: [batch, ...layer.outputSize, layer.outChannels],
    kernel: [...layer.kernelSize, layer.inChannels, layer.outChannels],
    out: layer.outChannels,
  };
}

async function run(c: Case, reps: number): Promise<string[]> {
  await tf.setBackend(c.backend);
  const s = shapes(c.layer, c.batch);
  const input = tf.randomNormal(s.input, 0, 1, 'float32', 1);
  const outputGrad = tf.randomNormal(s.output, 0, 1 / c.batch, 'float32', 2);
  const kernel = tf.variable(tf.randomNormal(s.kernel, 0, 0.1, 'float32', 3), false, `${c.backend}-${c.layer.kernel}`);
  const bias = tf.variable(tf.zeros([s.out]), false, `${c.backend}-${c.layer.bias}`);
  const layer = { ...c.layer, kernel: kernel.name, bias: bias.name };
  const vars = { [kernel.name]: kernel, [bias.name]: bias };
  const batch = { captures: { [layer.name]: { input, outputGrad } }, grads: {}, batchSize: c.batch };
  const grads = { [kernel.name]: kernel as tf.Tensor, [bias.name]: bias as tf.Tensor };
  const sync = async (t: tf.Tensor) => {
    const one = tf.tidy(() => tf.slice(tf.reshape(t, [-1]), [0], [1]));
    await one.data();
    one.dispose();
  };
  const rows: string[] = [];
  const start = tf.memory().numTensors;
  for (const mode of ['pi', 'eigen'] as const) {
    const est = kfac({ damping: mode });
    est.init([layer], vars);
    const stats = mode === 'pi' ? await time(reps, () => est.updateStatistics(batch)) : Number.NaN;
    if (mode === 'eigen') await est.updateStatistics(batch);
    const inv = await time(Math.max(1, Math.ceil(reps / 2)), () => est.refreshInverses(1e-3));
    const pre = await time(reps, async () => {
      const out = est.precondition(grads);
      await sync(out[kernel.name]);
      tf.dispose(Object.values(out));
    });
    const mul = await time(reps, async () => {
      const out = est.multiply(grads);
      await sync(out[kernel.name]);
      tf.dispose(Object.values(out));
    });
    const m = est.memory();
    est.dispose();
    rows.push(`| ${c.backend} | ${c.label} | ${c.batch} | kfac ${mode} | ${mode === 'pi' ? stats.toFixed(1) : '(same)'} | ${inv.toFixed(1)} | ${pre.toFixed(2)} | ${mul.toFixed(2)} | ${(m.total / 1024).toFixed(0)} |`);
  }
  const d = diagonal();
  d.init([layer], vars);
  const dStats = await time(reps, () => d.updateStatistics(batch));
  const dInv = await time(reps, () => d.refreshInverses(1e-3));
  const dPre = await time(reps, async () => {
    const out = d.precondition(grads);
    await sync(out[kernel.name]);
    tf.dispose(Object.values(out));
  });
  const dm = d.memory();
  d.dispose();
  rows.push(`| ${c.backend} | ${c.label} | ${c.batch} | diagonal fisher | ${dStats.toFixed(1)} | ${dInv.toFixed(2)} | ${dPre.toFixed(2)} | - | ${(dm.total / 1024).toFixed(0)} |`);
  tf.dispose([input, outputGrad, kernel, bias]);
  if (tf.memory().numTensors !== start - 4) throw new Error(`benchmark leaked ${tf.memory().numTensors - start + 4} tensors`);
  return rows;
}

async function main(): Promise<void> {
  const cases: Case[] = [
    { backend: 'cpu', layer: dense('d64', 64, 32), batch: 128, label: 'Dense 64→32' },
    { backend: 'cpu', layer: dense('d256', 256, 128), batch: 256, label: 'Dense 256→128' },
    { backend: 'cpu', layer: conv('c16', 16, 8, 16, 1), batch: 32, label: 'Conv 3x3 8→16, 16x16, stride 1' },
    { backend: 'wasm', layer: dense('w3', 256, 10), batch: 1024, label: 'Dense 256→10' },
    { backend: 'wasm', layer: dense('w2', 512, 256), batch: 1024, label: 'Dense 512→256' },
    { backend: 'wasm', layer: dense('w1', 784, 512), batch: 1024, label: 'Dense 784→512' },
    { backend: 'wasm', layer: conv('wc', 16, 16, 32, 1), batch: 128, label: 'Conv 3x3 16→32, 16x16, stride 1' },
  ];
  const selected = quick ? cases.filter((c) => c.layer.name !== 'w1' && c.layer.name !== 'd256') : cases;
  const reps = quick ? 3 : 5;
  const lines = [
    '| backend | layer | batch | estimator | updateStatistics ms | refreshInverses ms | precondition ms | multiply ms | memory KiB |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  for (const c of selected) lines.push(...(await run(c, reps)));
  console.log(`machine: ${cpus().length} x ${cpus()[0]?.model ?? 'unknown cpu'}, node ${process.version}, tfjs ${tf.version.tfjs}`);
  console.log(lines.join('\n'));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
