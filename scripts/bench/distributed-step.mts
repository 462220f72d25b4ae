/**
 * One rank of the distributed step benchmark (scripts/bench/distributed-step.sh runs it as one
 * process and under `mpirun -np N`): the training step of the MLP 784-512-256-10 that the issue's
 * prototype timed (535,818 parameters; --model cnn for natgrad train's default CNN), on one synthetic global batch (seeded N(0,1) pixels and
 * uniform labels, identical on every rank; each rank steps on its contiguous shard), built exactly
 * as `natgrad train` builds it (flags -> makeComposition), on wasm. Times every step on rank 0 after
 * warm-up steps (a distributed step ends with collectives, so rank 0's time is the job's), and the
 * Trainer's own 'communication' phase (collectives, their packing reads and the wait for the slowest
 * rank). Prints one JSON object on stdout from rank 0.
 *   node --conditions=natgrad-source --import tsx scripts/bench/distributed-step.mts --optimizer fop
 */
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { launchedByMpi, initMpi } from '../../packages/comm-mpi/src/index';
import { PHASES, Trainer } from '../../packages/trainer/src/index';
import { chooseBackend } from '../../apps/train/src/backend';
import { parseTrainFlags } from '../../apps/train/src/flags/train-flags';
import { buildModel, countParams } from '../../apps/train/src/models/index';
import { makeComposition } from '../../apps/train/src/optimizer';

const { values } = parseArgs({
  options: {
    optimizer: { type: 'string', default: 'fop' },
    model: { type: 'string', default: 'mlp' },
    batch: { type: 'string', default: '4096' },
    width: { type: 'string' },
    steps: { type: 'string', default: '20' },
    warmup: { type: 'string', default: '3' },
    'factor-every': { type: 'string', default: '10' },
    'inverse-every': { type: 'string', default: '10' },
  },
});
const batch = Number(values.batch);
const world = launchedByMpi() ? await initMpi() : null;
const rank = world?.rank ?? 0;
const size = world?.size ?? 1;
const selection = await chooseBackend('wasm');
tf.env().set('PROD', true);
const config = parseTrainFlags([
  ...['--model', String(values.model), ...(values.width === undefined ? (values.model === 'mlp' ? ['--width', '512'] : []) : ['--width', values.width])],
  ...['--optimizer', String(values.optimizer), '--batch', String(batch)],
  ...['--backend', 'wasm', '--statistics-worker', 'off', '--lr-schedule', 'constant'],
  ...['--factor-every', String(values['factor-every']), '--inverse-every', String(values['inverse-every'])],
]).config;
const model = buildModel(config.model, { inputShape: [28, 28, 1], numClasses: 10, seed: 1, width: config.width ?? undefined, outputActivation: 'softmax' });
const trainer = new Trainer({
  model,
  loss: 'categoricalCrossentropy',
  seed: 1,
  ...makeComposition(config, 1000, undefined),
  ...(world === null ? {} : { communicator: world }),
});
const shard = batch / size;
const [x, y] = tf.tidy(() => {
  const gx = tf.randomNormal([batch, 28, 28, 1], 0, 1, 'float32', 7);
  const gy = tf.oneHot(tf.randomUniform([batch], 0, 10, 'int32', 8), 10).toFloat();
  return [gx.slice(rank * shard, shard), gy.slice(rank * shard, shard)];
});
const steps = Number(values.steps);
const warmup = Number(values.warmup);
const times: number[] = [];
const communication: number[] = [];
const phases: Record<string, number> = Object.fromEntries(PHASES.map((p) => [p, 0]));
for (let i = 0; i < warmup + steps; i++) {
  const t0 = performance.now();
  await trainer.step(x, y);
  const ms = performance.now() - t0;
  if (i < warmup) continue;
  const last = trainer.timings.last;
  times.push(ms);
  communication.push(last.communication);
  for (const p of PHASES) phases[p] += last[p] / steps;
}
const sorted = [...times].sort((a, b) => a - b);
const q = (f: number) => sorted[Math.min(sorted.length - 1, Math.floor(f * (sorted.length - 1) + 0.5))];
const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
if (rank === 0) {
  process.stdout.write(
    `${JSON.stringify({
      optimizer: config.optimizer,
      model: config.model,
      ranks: size,
      engine: world?.engine ?? 'one process',
      backend: selection.name,
      parameters: countParams(model),
      batch,
      perRank: shard,
      factorEvery: config.factorEvery,
      inverseEvery: config.inverseEvery,
      steps,
      warmup,
      medianMs: q(0.5),
      iqrMs: q(0.75) - q(0.25),
      meanMs: mean(times),
      communicationMeanMs: mean(communication),
      communicationMedianMs: [...communication].sort((a, b) => a - b)[Math.floor(communication.length / 2)],
      phasesMeanMs: phases,
      stepMs: times,
    })}\n`,
  );
}
tf.dispose([x, y]);
trainer.dispose();
await world?.dispose();
