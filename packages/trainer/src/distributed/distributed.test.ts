import * as tf from '@tensorflow/tfjs';
import { type Communicator, type NatgradError, createInProcessGroup } from '@natgrad/core';
import { kfac as kfacCurvature } from '@natgrad/curvature';
import { constant as constantDamping } from '@natgrad/damping';
import { average, fisherOrthogonal, identity } from '@natgrad/projection';
import { describe, expect, it } from 'vitest';
import { blobs, mlp, weightValues } from '../testing/problems';
import { Trainer } from '../trainer';
import type { TrainerConfig } from '../trainer-config';
import { AdamW } from '../update-rules/adamw';
import { Sgd } from '../update-rules/sgd';

type Kind = 'fop' | 'kfac' | 'sgd' | 'adamw';

/**
 * Distributed and single-process runs differ only in the order of float32 reductions: means of
 * shard means instead of one mean, averaged shard factors instead of one batch's. Each reordered
 * sum of m terms differs by at most ~m u (u = 2^-24) relative to the sum of magnitudes, i.e.
 * 2e-6 for the 32-example batches here; the damped inverses (lambda 0.05) amplify it by their
 * condition number but the weights move by lr times the directions, so over these few steps the
 * weights differ by far less: measured max 3.5e-7 (FOP N=4), 2.4e-7 (FOP N=2), 3.4e-7 (KFAC N=3),
 * 2.6e-7 (AdamW), 8e-8 (SGD), 1.5e-7 (resume), all relative to each tensor's largest entry. 1e-5
 * keeps 30x headroom over the measurements, and a different algorithm (FOP on other halves) is
 * more than 100x beyond it (asserted below).
 */
const TOLERANCE = 1e-5;

function config(kind: Kind, extra: Partial<TrainerConfig> & { fisher?: 'sampled' | 'empirical'; batchNorm?: boolean } = {}): TrainerConfig {
  const { fisher, batchNorm, ...rest } = extra;
  const curvature = kind === 'fop' || kind === 'kfac' ? kfacCurvature({ decay: 0.9, fisher: fisher ?? 'empirical' }) : null;
  return {
    model: mlp({ seed: 7, hidden: 8, batchNorm }),
    loss: 'categoricalCrossentropy',
    curvature,
    damping: curvature === null ? null : constantDamping(0.05),
    projection: kind === 'fop' ? fisherOrthogonal() : identity(),
    updateRule: kind === 'adamw' ? new AdamW({ weightDecay: 0.01 }) : new Sgd({ momentum: 0.9 }),
    learningRate: kind === 'adamw' ? 0.01 : 0.05,
    inverseEvery: 2,
    metrics: ['accuracy'],
    ...rest,
  };
}

/** Rows [start, start + count) of a tensor. */
const rows = (t: tf.Tensor, start: number, count: number) => tf.slice(t, start, count);

/** Largest |a - b| / (max |b| over the tensor) over all weights: a relative error per tensor. */
async function maxRelativeDifference(a: tf.LayersModel, b: tf.LayersModel): Promise<number> {
  const [wa, wb] = [await weightValues(a), await weightValues(b)];
  let worst = 0;
  wa.forEach((x, i) => {
    const y = wb[i];
    let scale = 0;
    for (const v of y) scale = Math.max(scale, Math.abs(v));
    for (let j = 0; j < x.length; j++) worst = Math.max(worst, Math.abs(x[j] - y[j]) / (scale || 1));
  });
  return worst;
}

/** Runs `body` on every rank at once (as separate processes would). */
function onRanks<T>(trainers: Trainer[], body: (t: Trainer, rank: number) => Promise<T>): Promise<T[]> {
  return Promise.all(trainers.map(body));
}

function group(kind: Kind, size: number, extra: Partial<TrainerConfig> & { fisher?: 'sampled' | 'empirical'; batchNorm?: boolean } = {}): { comms: Communicator[]; trainers: Trainer[] } {
  const comms = createInProcessGroup(size, { timeoutMs: 20_000 });
  return { comms, trainers: comms.map((communicator) => new Trainer(config(kind, { ...extra, communicator }))) };
}

function disposeAll(trainers: Trainer[]): void {
  for (const t of trainers) {
    t.dispose();
    t.model.dispose();
  }
}

describe('Trainer, distributed (in-process group)', () => {
  it('N=2 FOP equals single-process FOP on the same batch (shard 0 = first half), sampled Fisher included', async () => {
    const d = blobs({ n: 32, seed: 41 });
    const single = new Trainer(config('fop', { fisher: 'sampled' }));
    const { trainers } = group('fop', 2, { fisher: 'sampled' });
    const shards = [0, 1].map((r) => [rows(d.x, 16 * r, 16), rows(d.y, 16 * r, 16)]);
    for (let i = 0; i < 6; i++) {
      const ref = await single.step(d.x, d.y);
      const results = await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
      for (const r of results) {
        expect(r.batchSize).toBe(32);
        expect(r.correct).toBe(ref.correct);
        expect(r.loss).toBeCloseTo(ref.loss, 5);
        expect(Object.keys(r.diagnostics).length).toBe(2);
      }
    }
    const diff = await maxRelativeDifference(trainers[0].model, single.model);
    expect(diff).toBeLessThan(TOLERANCE);
    expect(await maxRelativeDifference(trainers[1].model, trainers[0].model)).toBe(0);
    disposeAll([single, ...trainers]);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('N=4 FOP equals single-process FOP whose halves are the even and the odd shards (curvature from the whole batch)', async () => {
    const d = blobs({ n: 32, seed: 42 });
    const shards = [0, 1, 2, 3].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    // One process splits its batch into halves: [s0; s2] gives g1 and [s1; s3] gives g2.
    const x = tf.concat([shards[0][0], shards[2][0], shards[1][0], shards[3][0]]);
    const y = tf.concat([shards[0][1], shards[2][1], shards[1][1], shards[3][1]]);
    const single = new Trainer(config('fop'));
    const { trainers } = group('fop', 4);
    for (let i = 0; i < 6; i++) {
      const ref = await single.step(x, y);
      const results = await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
      for (const r of results) {
        expect(r.loss).toBeCloseTo(ref.loss, 5);
        expect(r.statisticsUpdated).toBe(ref.statisticsUpdated);
        expect(r.inversesRefreshed).toBe(ref.inversesRefreshed);
        for (const [k, diag] of Object.entries(ref.diagnostics)) {
          const other = Object.values(r.diagnostics)[Object.keys(ref.diagnostics).indexOf(k)];
          expect(other.beta).toBeCloseTo(diag.beta!, 3);
          expect(other.eta).toBeCloseTo(diag.eta!, 4);
        }
      }
    }
    const diff = await maxRelativeDifference(trainers[0].model, single.model);
    expect(diff).toBeLessThan(TOLERANCE);
    for (const t of trainers.slice(1)) expect(await maxRelativeDifference(t.model, trainers[0].model)).toBe(0);
    // The tolerance tells algorithms apart: halves [s0; s1] and [s2; s3] (not the parity groups) differ by far more.
    const otherHalves = new Trainer(config('fop'));
    for (let i = 0; i < 6; i++) await otherHalves.step(d.x, d.y);
    expect(await maxRelativeDifference(otherHalves.model, single.model)).toBeGreaterThan(100 * TOLERANCE);
    disposeAll([single, otherHalves, ...trainers]);
    tf.dispose([d.x, d.y, x, y, ...shards.flat()]);
  });

  it('N=6 FOP (more ranks than layers: four own nothing) equals one-process FOP on the parity halves, and its checkpoint resumes in one process', async () => {
    const d = blobs({ n: 24, seed: 54 });
    const shards = [0, 1, 2, 3, 4, 5].map((r) => [rows(d.x, 4 * r, 4), rows(d.y, 4 * r, 4)]);
    const order = [0, 2, 4, 1, 3, 5];
    const x = tf.concat(order.map((r) => shards[r][0]));
    const y = tf.concat(order.map((r) => shards[r][1]));
    const single = new Trainer(config('fop'));
    const { trainers } = group('fop', 6);
    expect(trainers[0].distributed!.owners).toEqual([0, 1]);
    for (let i = 0; i < 4; i++) {
      const ref = await single.step(x, y);
      const results = await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
      expect(results[5].loss).toBeCloseTo(ref.loss, 5);
      expect(Object.keys(results[4].diagnostics).length).toBe(2);
    }
    expect(await maxRelativeDifference(trainers[5].model, single.model)).toBeLessThan(TOLERANCE);
    const bytes = await onRanks(trainers, (t) => t.toCheckpointBytes());
    const one = new Trainer(config('fop'));
    await one.restoreCheckpoint(bytes[0]);
    await one.step(x, y);
    await single.step(x, y);
    expect(await maxRelativeDifference(one.model, single.model)).toBeLessThan(TOLERANCE);
    disposeAll([single, one, ...trainers]);
    tf.dispose([d.x, d.y, x, y, ...shards.flat()]);
  });

  for (const kind of ['kfac', 'sgd', 'adamw'] as const) {
    it(`data-parallel ${kind} at N=3 equals single-process ${kind} on the whole batch`, async () => {
      const d = blobs({ n: 30, seed: 43 });
      const single = new Trainer(config(kind));
      const { trainers } = group(kind, 3);
      const shards = [0, 1, 2].map((r) => [rows(d.x, 10 * r, 10), rows(d.y, 10 * r, 10)]);
      for (let i = 0; i < 5; i++) {
        const ref = await single.step(d.x, d.y);
        const results = await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
        for (const r of results) {
          expect(r.loss).toBeCloseTo(ref.loss, 5);
          expect(r.gradNorm).toBeCloseTo(ref.gradNorm, 5);
        }
      }
      const diff = await maxRelativeDifference(trainers[0].model, single.model);
      expect(diff).toBeLessThan(TOLERANCE);
      for (const t of trainers.slice(1)) expect(await maxRelativeDifference(t.model, trainers[0].model)).toBe(0);
      disposeAll([single, ...trainers]);
      tf.dispose([d.x, d.y, ...shards.flat()]);
    });
  }

  it('data-parallel KFAC with the average projection at N=4 equals single-process KFAC on the whole batch', async () => {
    const d = blobs({ n: 32, seed: 53 });
    const single = new Trainer(config('kfac'));
    const { trainers } = group('kfac', 4, { projection: average() });
    const shards = [0, 1, 2, 3].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    for (let i = 0; i < 5; i++) {
      const ref = await single.step(d.x, d.y);
      const results = await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
      expect(results[0].loss).toBeCloseTo(ref.loss, 5);
    }
    expect(await maxRelativeDifference(trainers[0].model, single.model)).toBeLessThan(TOLERANCE);
    disposeAll([single, ...trainers]);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('a checkpoint saved at N=4 resumes at N=4, N=2 and N=1 with the same subsequent steps; tf.memory() unchanged', async () => {
    const d = blobs({ n: 32, seed: 44 });
    const shards = [0, 1, 2, 3].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    const even = [tf.concat([shards[0][0], shards[2][0]]), tf.concat([shards[0][1], shards[2][1]])];
    const odd = [tf.concat([shards[1][0], shards[3][0]]), tf.concat([shards[1][1], shards[3][1]])];
    const whole = [tf.concat([even[0], odd[0]]), tf.concat([even[1], odd[1]])];
    const before = tf.memory().numTensors;
    const four = group('fop', 4);
    await onRanks(four.trainers, async (t, r) => {
      for (let i = 0; i < 3; i++) await t.step(shards[r][0], shards[r][1]);
    });
    const saved = await onRanks(four.trainers, (t) => t.toCheckpointBytes({ progress: { note: 'n4' } }));
    // The reference: N=4 goes on.
    await onRanks(four.trainers, async (t, r) => {
      for (let i = 0; i < 3; i++) await t.step(shards[r][0], shards[r][1]);
    });
    const two = group('fop', 2);
    const progress = await onRanks(two.trainers, (t, r) => t.restoreCheckpoint(r === 0 ? saved[0] : null));
    expect(progress).toEqual([{ note: 'n4' }, { note: 'n4' }]);
    await onRanks(two.trainers, async (t, r) => {
      for (let i = 0; i < 3; i++) await t.step(...((r === 0 ? even : odd) as [tf.Tensor, tf.Tensor]));
    });
    const one = new Trainer(config('fop'));
    await one.restoreCheckpoint(saved[0]);
    for (let i = 0; i < 3; i++) await one.step(whole[0], whole[1]);
    expect(one.stepCount).toBe(6);
    expect(two.trainers[1].stepCount).toBe(6);
    const d2 = await maxRelativeDifference(two.trainers[1].model, four.trainers[0].model);
    const d1 = await maxRelativeDifference(one.model, four.trainers[0].model);
    expect(d2).toBeLessThan(TOLERANCE);
    expect(d1).toBeLessThan(TOLERANCE);
    // The N=2 and N=1 states save to checkpoints that restore into each other's sizes too.
    const again = await onRanks(two.trainers, (t) => t.toCheckpointBytes());
    const back = new Trainer(config('fop'));
    await back.restoreCheckpoint(again[0]);
    expect(await maxRelativeDifference(back.model, two.trainers[0].model)).toBe(0);
    disposeAll([...four.trainers, ...two.trainers, one, back]);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([d.x, d.y, ...even, ...odd, ...whole, ...shards.flat()]);
  });

  it('a checkpoint of one process resumes at N=4 (the single-process format, every rank keeping its layers)', async () => {
    const d = blobs({ n: 32, seed: 45 });
    const one = new Trainer(config('kfac'));
    await one.step(d.x, d.y);
    const bytes = await one.toCheckpointBytes();
    const { trainers } = group('kfac', 4);
    await onRanks(trainers, (t, r) => t.restoreCheckpoint(r === 0 ? bytes : null));
    const shards = [0, 1, 2, 3].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    await one.step(d.x, d.y);
    await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
    expect(await maxRelativeDifference(trainers[3].model, one.model)).toBeLessThan(TOLERANCE);
    disposeAll([one, ...trainers]);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('steps, checkpoints and replica checks leave tf.memory().numTensors unchanged', async () => {
    const d = blobs({ n: 16, seed: 46 });
    const shards = [0, 1].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    const { trainers } = group('fop', 2, { verifyEvery: 2 });
    await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
    const before = tf.memory().numTensors;
    await onRanks(trainers, async (t, r) => {
      for (let i = 0; i < 4; i++) await t.step(shards[r][0], shards[r][1]);
      const bytes = await t.toCheckpointBytes();
      await t.restoreCheckpoint(r === 0 ? bytes : null);
      await t.verifyReplicas();
    });
    expect(tf.memory().numTensors).toBe(before);
    disposeAll(trainers);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('ranks built with different initial weights start from rank 0\'s', async () => {
    const comms = createInProcessGroup(2);
    const trainers = comms.map((communicator, r) => new Trainer({ ...config('sgd'), model: mlp({ seed: 7 + r, hidden: 8 }), communicator }));
    const d = blobs({ n: 8, seed: 47 });
    const shards = [0, 1].map((r) => [rows(d.x, 4 * r, 4), rows(d.y, 4 * r, 4)]);
    await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
    expect(await maxRelativeDifference(trainers[1].model, trainers[0].model)).toBe(0);
    await onRanks(trainers, (t) => t.verifyReplicas());
    disposeAll(trainers);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('verifyReplicas finds a rank whose weights drifted (STATE_MISMATCH on every rank, naming it), also on its own every verifyEvery steps', async () => {
    const d = blobs({ n: 8, seed: 48 });
    const shards = [0, 1, 2].map((r) => [rows(d.x, 2 * r, 2), rows(d.y, 2 * r, 2)]);
    const { trainers } = group('sgd', 3, { verifyEvery: 2 });
    await onRanks(trainers, (t, r) => t.step(shards[r][0], shards[r][1]));
    const w = trainers[2].model.weights[0];
    w.write(tf.tidy(() => tf.add(w.read(), 1e-3)));
    const results = await Promise.allSettled(trainers.map((t) => t.verifyReplicas()));
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as NatgradError;
      expect(err.code).toBe('STATE_MISMATCH');
      expect(err.message).toMatch(/ranks \[2\] differ from rank 0/);
    }
    // The group still works (a consistent error is no abort); the cadence finds it too.
    const steps = await Promise.allSettled(trainers.map((t, r) => t.step(shards[r][0], shards[r][1])));
    for (const r of steps) expect(((r as PromiseRejectedResult).reason as NatgradError).code).toBe('STATE_MISMATCH');
    disposeAll(trainers);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });

  it('a rank that throws makes the others reject with COMMUNICATION_FAILED (no hang)', async () => {
    const d = blobs({ n: 16, seed: 49 });
    const { trainers } = group('fop', 4);
    const t0 = Date.now();
    const results = await Promise.allSettled(
      trainers.map((t, r) => (r === 2 ? t.step(rows(d.x, 0, 4), rows(d.y, 0, 3)) : t.step(rows(d.x, 4 * r, 4), rows(d.y, 4 * r, 4)))),
    );
    expect(Date.now() - t0).toBeLessThan(10_000);
    const codes = results.map((r) => ((r as PromiseRejectedResult).reason as NatgradError).code);
    expect(codes[2]).toBe('SHAPE_MISMATCH');
    expect(codes.filter((c) => c === 'COMMUNICATION_FAILED').length).toBe(3);
    disposeAll(trainers);
    tf.dispose([d.x, d.y]);
  });

  it('clear errors: odd size with FOP, unsupported curvature, different configurations, unequal shards, no bytes on rank 0', async () => {
    const odd = createInProcessGroup(3);
    expect(() => new Trainer(config('fop', { communicator: odd[0] }))).toThrow(/even number of ranks/);
    const comms = createInProcessGroup(2);
    const { diagonal } = await import('@natgrad/curvature');
    expect(() => new Trainer({ ...config('fop', { communicator: comms[0] }), curvature: diagonal() })).toThrow(/does not support the "diagonal-fisher" curvature/);
    expect(() => new Trainer(config('sgd', { communicator: {} as Communicator }))).toThrow(/not a Communicator/);
    expect(() => new Trainer(config('sgd', { communicator: comms[0], verifyEvery: -1 }))).toThrow(/verifyEvery/);
    // a model without curvature layers: the estimator's own error, as in one process
    const embedding = tf.sequential();
    embedding.add(tf.layers.embedding({ inputDim: 10, outputDim: 3, inputLength: 1 }));
    embedding.add(tf.layers.flatten());
    expect(() => new Trainer({ ...config('kfac', { communicator: comms[0] }), model: embedding })).toThrow(/kfac.init: no layers/);
    embedding.dispose();
    // a size-1 communicator is single-process training
    expect(new Trainer(config('fop', { communicator: createInProcessGroup(1)[0] })).distributed).toBeNull();

    const d = blobs({ n: 8, seed: 50 });
    const mismatched = createInProcessGroup(2);
    const different = [new Trainer(config('sgd', { communicator: mismatched[0] })), new Trainer(config('sgd', { communicator: mismatched[1], learningRate: 0.1 }))];
    const r1 = await Promise.allSettled(different.map((t, r) => t.step(rows(d.x, 4 * r, 4), rows(d.y, 4 * r, 4))));
    for (const r of r1) expect(((r as PromiseRejectedResult).reason as NatgradError).code).toBe('STATE_MISMATCH');

    const { trainers } = group('sgd', 2);
    const r2 = await Promise.allSettled(trainers.map((t, r) => t.step(rows(d.x, 0, 2 + 2 * r), rows(d.y, 0, 2 + 2 * r))));
    for (const r of r2) expect(((r as PromiseRejectedResult).reason as NatgradError).message).toMatch(/shards of different sizes/);

    const fresh = group('sgd', 2);
    const r3 = await Promise.allSettled(fresh.trainers.map((t) => t.restoreCheckpoint(null)));
    expect(((r3[0] as PromiseRejectedResult).reason as NatgradError).code).toBe('INVALID_ARGUMENT');
    expect(((r3[1] as PromiseRejectedResult).reason as NatgradError).code).toBe('COMMUNICATION_FAILED');
    disposeAll([...different, ...trainers, ...fresh.trainers]);
    tf.dispose([d.x, d.y]);
  });

  it('fit() and fitDataset(): every rank draws the same global batches and trains on its shard (N=2 FOP = one-process FOP)', async () => {
    const d = blobs({ n: 40, seed: 51 });
    const single = new Trainer(config('fop'));
    const h1 = await single.fit(d.x, d.y, { epochs: 2, batchSize: 12 });
    const { trainers } = group('fop', 2);
    const hs = await onRanks(trainers, (t) => t.fit(d.x, d.y, { epochs: 2, batchSize: 12 }));
    expect(hs[0].history.steps).toEqual(h1.history.steps);
    expect(hs[0].history.droppedExamples).toEqual(h1.history.droppedExamples);
    hs[0].history.loss.forEach((l, i) => {
      expect(l).toBeCloseTo(h1.history.loss[i], 5);
    });
    expect(await maxRelativeDifference(trainers[0].model, single.model)).toBeLessThan(TOLERANCE);

    const ds = () => tf.data.zip({ xs: tf.data.array(tf.unstack(d.x)), ys: tf.data.array(tf.unstack(d.y)) }).batch(10);
    const four = group('kfac', 4);
    const h4 = await onRanks(four.trainers, (t) => t.fitDataset(ds(), { epochs: 1 }));
    // 40 examples in batches of 10: the first 8 of each batch trained (2 dropped to split it 4 ways)
    expect(h4[0].history.droppedExamples).toEqual([8]);
    expect(four.trainers[0].stepCount).toBe(4);
    const firstEight = [0, 1, 2, 3].map((b) => ({ xs: rows(d.x, 10 * b, 8), ys: rows(d.y, 10 * b, 8) }));
    const single2 = new Trainer(config('kfac'));
    await single2.fitDataset(tf.data.array(firstEight), { epochs: 1 });
    expect(await maxRelativeDifference(four.trainers[2].model, single2.model)).toBeLessThan(TOLERANCE);
    tf.dispose(firstEight.flatMap((b) => [b.xs, b.ys]));
    disposeAll([single, single2, ...trainers, ...four.trainers]);
    tf.dispose([d.x, d.y]);
  });

  it('BatchNorm moving statistics are averaged: replicas stay identical', async () => {
    const d = blobs({ n: 16, seed: 52 });
    const shards = [0, 1].map((r) => [rows(d.x, 8 * r, 8), rows(d.y, 8 * r, 8)]);
    const { trainers } = group('fop', 2, { batchNorm: true });
    await onRanks(trainers, async (t, r) => {
      for (let i = 0; i < 3; i++) await t.step(shards[r][0], shards[r][1]);
      await t.verifyReplicas();
    });
    expect(await maxRelativeDifference(trainers[1].model, trainers[0].model)).toBe(0);
    disposeAll(trainers);
    tf.dispose([d.x, d.y, ...shards.flat()]);
  });
});
