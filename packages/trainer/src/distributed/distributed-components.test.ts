import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { type Communicator, type NatgradError, createInProcessGroup } from '@natgrad/core';
import { kfac as kfacCurvature } from '@natgrad/curvature';
import { levenbergMarquardt } from '@natgrad/damping';
import { fisherOrthogonal } from '@natgrad/projection';
import { describe, expect, it } from 'vitest';
import { loadCheckpoint, saveCheckpoint } from '../node/checkpoint-file';
import { blobs, mlp, weightValues } from '../testing/problems';
import { Trainer } from '../trainer';
import type { TrainerConfig } from '../trainer-config';
import { Sgd } from '../update-rules/sgd';

/** As in distributed.test.ts: float32 reduction order only (measured there). */
const TOLERANCE = 1e-5;

const rows = (t: tf.Tensor, start: number, count: number) => tf.slice(t, start, count);

async function maxRelativeDifference(a: tf.LayersModel, b: tf.LayersModel): Promise<number> {
  const [wa, wb] = [await weightValues(a), await weightValues(b)];
  let worst = 0;
  wa.forEach((x, i) => {
    let scale = 0;
    for (const v of wb[i]) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - wb[i][j]) / (scale || 1));
  });
  return worst;
}

function fopConfig(extra: Partial<TrainerConfig> = {}, kfacOptions: Parameters<typeof kfacCurvature>[0] = {}): TrainerConfig {
  return {
    model: mlp({ seed: 9, hidden: 8 }),
    loss: 'categoricalCrossentropy',
    curvature: kfacCurvature({ decay: 0.9, fisher: 'empirical', ...kfacOptions }),
    damping: levenbergMarquardt({ initial: 0.05, adaptEvery: 1 }),
    projection: fisherOrthogonal(),
    updateRule: new Sgd({ momentum: 0.9 }),
    learningRate: 0.1,
    inverseEvery: 1,
    ...extra,
  };
}

function cleanup(trainers: Trainer[]): void {
  for (const t of trainers) {
    t.dispose();
    t.model.dispose();
  }
}

/** A Communicator that counts what this rank sends, per method (floats, bytes, float64 scalars). */
class Counting implements Communicator {
  constructor(
    private readonly inner: Communicator,
    readonly sent: Record<string, number>,
  ) {}
  get rank() {
    return this.inner.rank;
  }
  get size() {
    return this.inner.size;
  }
  get engine() {
    return this.inner.engine;
  }
  private add(key: string, n: number) {
    this.sent[key] = (this.sent[key] ?? 0) + n;
  }
  async split(color: number, key: number) {
    return new Counting(await this.inner.split(color, key), this.sent);
  }
  allreduce(data: Float32Array, op?: 'sum' | 'max' | 'min') {
    this.add('allreduce', data.length);
    return this.inner.allreduce(data, op);
  }
  reduceScatter(data: Float32Array, counts: readonly number[]) {
    this.add('reduceScatter', data.length);
    return this.inner.reduceScatter(data, counts);
  }
  allgatherv(data: Float32Array, counts: readonly number[]) {
    this.add('allgatherv', data.length);
    return this.inner.allgatherv(data, counts);
  }
  sendrecv(data: Float32Array, dest: number, receiveCount: number, source: number, tag?: number) {
    this.add('sendrecv', data.length);
    return this.inner.sendrecv(data, dest, receiveCount, source, tag);
  }
  broadcast(data: Float32Array, root: number) {
    this.add('broadcast', this.rank === root ? data.length : 0);
    return this.inner.broadcast(data, root);
  }
  broadcastBytes(data: Uint8Array | null, root: number) {
    this.add('broadcastBytes', data?.length ?? 0);
    return this.inner.broadcastBytes(data, root);
  }
  allreduceScalars(values: readonly number[], op?: 'sum' | 'max' | 'min') {
    this.add('allreduceScalars', values.length);
    return this.inner.allreduceScalars(values, op);
  }
  barrier() {
    return this.inner.barrier();
  }
  abort(reason: string) {
    this.inner.abort?.(reason);
  }
  dispose() {
    return this.inner.dispose();
  }
}

describe('Trainer, distributed: damping adaptation, KL clip, Conv2D, checkpoint files, communication volume', () => {
  it('Levenberg-Marquardt damping and KL clipping give every rank the same rho and scale (N=2 = one process)', async () => {
    const d = blobs({ n: 32, seed: 61 });
    const shards = [0, 1].map((r) => [rows(d.x, 16 * r, 16), rows(d.y, 16 * r, 16)]);
    const single = new Trainer(fopConfig({}, { klClip: 1e-4 }));
    const comms = createInProcessGroup(2);
    const trainers = comms.map((communicator) => new Trainer(fopConfig({ communicator }, { klClip: 1e-4 })));
    const dampings: number[][] = [[], [], []];
    for (let i = 0; i < 6; i++) {
      await single.step(d.x, d.y);
      await Promise.all(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
      dampings[0].push(single.currentDamping()!);
      dampings[1].push(trainers[0].currentDamping()!);
      dampings[2].push(trainers[1].currentDamping()!);
    }
    // rho moved the damping (the test would not see a wrong q otherwise), identically on both ranks
    expect(new Set(dampings[0]).size).toBeGreaterThan(1);
    expect(dampings[1]).toEqual(dampings[2]);
    dampings[1].forEach((v, i) => {
      expect(Math.abs(v - dampings[0][i]) / dampings[0][i]).toBeLessThan(1e-4);
    });
    expect(await maxRelativeDifference(trainers[0].model, single.model)).toBeLessThan(TOLERANCE);
    // KL clipping was active: without it the weights end elsewhere
    const unclipped = new Trainer(fopConfig());
    for (let i = 0; i < 6; i++) await unclipped.step(d.x, d.y);
    expect(await maxRelativeDifference(unclipped.model, single.model)).toBeGreaterThan(100 * TOLERANCE);
    cleanup([single, unclipped, ...trainers]);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('a Conv2D model: N=2 FOP equals one-process FOP (factors over locations averaged across ranks)', async () => {
    const build = (communicator?: Communicator) => {
      const model = tf.sequential();
      model.add(tf.layers.conv2d({ inputShape: [5, 5, 2], filters: 3, kernelSize: 3, activation: 'relu', kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
      model.add(tf.layers.flatten());
      model.add(tf.layers.dense({ units: 3, activation: 'softmax', kernelInitializer: tf.initializers.glorotUniform({ seed: 4 }) }));
      return new Trainer({ ...fopConfig(), model, damping: levenbergMarquardt({ initial: 0.05, adaptEvery: 2 }), communicator });
    };
    const x = tf.randomNormal([16, 5, 5, 2], 0, 1, 'float32', 5);
    const y = tf.oneHot(tf.tensor1d(Array.from({ length: 16 }, (_, i) => i % 3), 'int32'), 3).toFloat();
    const shards = [0, 1].map((r) => [rows(x, 8 * r, 8), rows(y, 8 * r, 8)]);
    const single = build();
    const comms = createInProcessGroup(2);
    const trainers = comms.map((c) => build(c));
    for (let i = 0; i < 4; i++) {
      await single.step(x, y);
      await Promise.all(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
    }
    expect(await maxRelativeDifference(trainers[1].model, single.model)).toBeLessThan(TOLERANCE);
    cleanup([single, ...trainers]);
    tf.dispose([x, y, ...shards.flat()]);
  });

  it('saveCheckpoint/loadCheckpoint: every rank calls them, only rank 0 touches the file; a missing file on rank 0 fails every rank', async () => {
    const folder = await mkdtemp(join(tmpdir(), 'natgrad-dist-'));
    try {
      const d = blobs({ n: 16, seed: 62 });
      const shards = [0, 1].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
      const comms = createInProcessGroup(2);
      const trainers = comms.map((communicator) => new Trainer(fopConfig({ communicator })));
      await Promise.all(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
      const path = join(folder, 'trainer.ckpt');
      await Promise.all(trainers.map((t) => saveCheckpoint(t, path, { progress: { epoch: 1 } })));
      expect(await readdir(folder)).toEqual(['trainer.ckpt']);
      const again = createInProcessGroup(2);
      const resumed = again.map((communicator) => new Trainer(fopConfig({ communicator })));
      expect(await Promise.all(resumed.map((t) => loadCheckpoint(t, path)))).toEqual([{ epoch: 1 }, { epoch: 1 }]);
      expect(await maxRelativeDifference(resumed[1].model, trainers[0].model)).toBe(0);
      const third = createInProcessGroup(2);
      const missing = third.map((communicator) => new Trainer(fopConfig({ communicator })));
      const results = await Promise.allSettled(missing.map((t) => loadCheckpoint(t, join(folder, 'nope.ckpt'))));
      expect(((results[0] as PromiseRejectedResult).reason as NatgradError).code).toBe('CHECKPOINT_CORRUPT');
      expect(((results[1] as PromiseRejectedResult).reason as NatgradError).code).toBe('COMMUNICATION_FAILED');
      cleanup([...trainers, ...resumed, ...missing]);
      tf.dispose([d.x, d.y, ...shards.flat()]);
    } finally {
      await rm(folder, { recursive: true, force: true });
    }
  });

  it('sends per step exactly what docs/algorithms/distributed-fop.md counts (N=4 FOP, 2 Dense layers)', async () => {
    const d = blobs({ n: 16, seed: 63 });
    const shards = [0, 1, 2, 3].map((r) => [rows(d.x, 4 * r, 4), rows(d.y, 4 * r, 4)]);
    const sent = [0, 1, 2, 3].map(() => ({}) as Record<string, number>);
    const comms = createInProcessGroup(4).map((c, r) => new Counting(c, sent[r]));
    // dims 4 -> hidden 8 -> 3 classes: P = 4*8 + 8 + 8*3 + 3 = 67 parameters;
    // factors: layer 0 A 5x5, G 8x8 (89 floats), layer 1 A 9x9, G 3x3 (90 floats).
    const trainers = comms.map((communicator) => new Trainer({ ...fopConfig({ communicator }), damping: levenbergMarquardt({ initial: 0.05, adaptEvery: 1000 }) }));
    await Promise.all(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
    const owners = trainers[0].distributed!.owners;
    expect(owners).toEqual([0, 1]);
    for (const s of sent) for (const k of Object.keys(s)) delete s[k];
    await Promise.all(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
    const params = 67;
    sent.forEach((s, r) => {
      const ownedDirections = owners.map((o, i) => (o === r ? [40 + 5, 27 + 5][i] : 0)).reduce((a, b) => a + b, 0);
      expect(s).toEqual({
        allreduceScalars: 2 + 1 + 3, // shard sizes; statistics finiteness; loss, non-finite count, accuracy
        reduceScatter: 89 + 90, // every layer's shard factors
        allreduce: params, // parity-group gradient
        sendrecv: params, // the other parity group's gradient
        allgatherv: ownedDirections, // owned layers' directions + 5 diagnostics floats each
      });
    });
    cleanup(trainers);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });
});
