/**
 * Benchmark: wall time of one combine() of identity (KFAC), average and fisherOrthogonal (FOP) on
 * a KFAC-structured view of a small MLP (Kronecker factors, tfjs matmuls), i.e. FOP's overhead over
 * KFAC in the projection stage only (curvature statistics and inverses are shared and excluded).
 * Usage: pnpm --filter @natgrad/projection bench [-- --reps 20] (cpu backend: the wasm backend is
 * not a dependency of this library package)
 */
import * as tf from '@tensorflow/tfjs';
import os from 'node:os';
import type { ParamMap, ProjectionStrategy } from '@natgrad/core';
import { average, fisherOrthogonal, identity } from '../src/index';
import { randomSpd, randomVector, seededRandom } from '../src/testing/dense-math';
import { kroneckerView } from '../src/testing/kronecker-view';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
};
const backend = 'cpu';
const reps = Number(arg('reps', '20'));
const layers: [number, number][] = [
  [128, 64],
  [64, 64],
  [64, 10],
];

async function main() {
  await tf.setBackend(backend);
  await tf.ready();
  const rand = seededRandom(1);
  const view = kroneckerView(
    layers.map(([i, o], l) => ({
      name: `d${l}`,
      kernel: `d${l}/kernel`,
      bias: `d${l}/bias`,
      a: randomSpd(i + 1, rand),
      g: randomSpd(o, rand),
      lambdaA: 0.03,
      lambdaG: 0.03,
    })),
  );
  const grads = (): ParamMap => {
    const m: ParamMap = {};
    layers.forEach(([i, o], l) => {
      m[`d${l}/kernel`] = tf.tensor(randomVector(i * o, rand), [i, o]);
      m[`d${l}/bias`] = tf.tensor(randomVector(o, rand), [o]);
    });
    return m;
  };
  const g1 = grads();
  const g2 = grads();
  const cases: [string, ProjectionStrategy, ParamMap[]][] = [
    ['identity (KFAC, 1 precondition)', identity(), [g1]],
    ['average (2 halves, 1 precondition)', average(), [g1, g2]],
    ['fisherOrthogonal (1 multiply + 2 precondition)', fisherOrthogonal(), [g1, g2]],
    ['fisherOrthogonal, diagnostics: false', fisherOrthogonal({ diagnostics: false }), [g1, g2]],
  ];
  const start = tf.memory().numTensors;
  console.log(`backend ${tf.getBackend()}, ${reps} reps, layers ${JSON.stringify(layers)}, ${os.cpus()[0].model}, node ${process.version}`);
  console.log('| strategy | median ms | min ms |\n|---|---|---|');
  for (const [label, p, input] of cases) {
    const times: number[] = [];
    for (let r = 0; r < reps + 2; r++) {
      const t0 = performance.now();
      const res = await p.combine(input, view);
      // Force completion: read every direction (what the update rule would consume), awaited as
      // on WebGPU, which cannot read synchronously.
      await Promise.all(Object.values(res.directions).map((d) => d.data()));
      const t1 = performance.now();
      tf.dispose([...Object.values(res.directions), ...Object.values(res.meanGrads)]);
      if (r >= 2) times.push(t1 - t0);
    }
    times.sort((a, b) => a - b);
    console.log(`| ${label} | ${times[Math.floor(times.length / 2)].toFixed(2)} | ${times[0].toFixed(2)} |`);
  }
  if (tf.memory().numTensors !== start) throw new Error('tensor leak in benchmark');
  view.dispose();
}

main();
