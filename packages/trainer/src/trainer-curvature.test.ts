import * as tf from '@tensorflow/tfjs';
import { kfac as kfacCurvature } from '@natgrad/curvature';
import { levenbergMarquardt } from '@natgrad/damping';
import { fisherOrthogonal } from '@natgrad/projection';
import { describe, expect, it } from 'vitest';
import { RecordingDamping, blobs, mlp, weightBits } from './testing/problems';
import { Trainer } from './trainer';
import { Sgd } from './update-rules/sgd';

function fopWith(damping: RecordingDamping | ReturnType<typeof levenbergMarquardt>, options: { inverseEvery?: number; statisticsEvery?: number; batchNorm?: boolean } = {}): Trainer {
  return new Trainer({
    model: mlp({ batchNorm: options.batchNorm }),
    loss: 'categoricalCrossentropy',
    curvature: kfacCurvature({ decay: 0.95 }),
    projection: fisherOrthogonal(),
    damping,
    updateRule: new Sgd({ momentum: 0.9 }),
    learningRate: 0.01,
    inverseEvery: options.inverseEvery ?? 3,
    statisticsEvery: options.statisticsEvery ?? 1,
  });
}

describe('Trainer, curvature path (KFAC + FOP)', () => {
  it('runs statistics and inverses on their cadences, the first step always both, and reports phase timings', async () => {
    const d = blobs({ n: 16, seed: 31 });
    const t = fopWith(new RecordingDamping(0.01), { inverseEvery: 3, statisticsEvery: 2 });
    const flags = [];
    for (let i = 0; i < 7; i++) {
      const r = await t.step(d.x, d.y);
      flags.push([r.statisticsUpdated, r.inversesRefreshed]);
      expect(r.timings.forwardBackward).toBeGreaterThan(0);
      expect(r.timings.total).toBeGreaterThanOrEqual(r.timings.forwardBackward + r.timings.projection);
      expect(Object.keys(r.diagnostics).length).toBe(2);
    }
    expect(flags).toEqual([
      [true, true],
      [false, false],
      [true, false],
      [false, true],
      [true, false],
      [false, false],
      [true, true],
    ]);
    expect(t.timings.total.inverses).toBeGreaterThan(0);
    expect(t.timings.total.statistics).toBeGreaterThan(0);
    t.dispose();
    tf.dispose([d.x, d.y]);
  });

  it('a forced NaN batch leaves weights bit-identical, raises the damping, is counted, and does not poison the statistics', async () => {
    const d = blobs({ n: 16, seed: 32 });
    const damping = new RecordingDamping(0.01);
    const t = fopWith(damping, { batchNorm: true });
    await t.step(d.x, d.y);
    await t.step(d.x, d.y);
    const bits = await weightBits(t.model);
    const bad = tf.tidy(() => tf.mul(d.x, tf.scalar(Number.NaN)));
    const r = await t.step(bad, d.y);
    expect(r.skipped).toBe(true);
    expect(await weightBits(t.model)).toEqual(bits); // includes BatchNorm's moving statistics
    expect(t.skippedSteps).toBe(1);
    expect(damping.nonFinite).toEqual([2]);
    expect(damping.lambda).toBeCloseTo(0.1, 12);
    for (let i = 0; i < 4; i++) expect((await t.step(d.x, d.y)).skipped).toBe(false);
    expect(await weightBits(t.model)).not.toEqual(bits);
    t.dispose();
    tf.dispose([d.x, d.y, bad]);
  });

  it('an infinite loss (targets outside the simplex) is also a skipped step', async () => {
    const d = blobs({ n: 16, seed: 33 });
    const t = fopWith(new RecordingDamping(0.01));
    await t.step(d.x, d.y);
    const bits = await weightBits(t.model);
    const badY = tf.tidy(() => tf.mul(d.y, tf.scalar(Number.POSITIVE_INFINITY)));
    expect((await t.step(d.x, badY)).skipped).toBe(true);
    expect(await weightBits(t.model)).toEqual(bits);
    t.dispose();
    tf.dispose([d.x, d.y, badY]);
  });

  it('Levenberg-Marquardt: the reduction ratio is measured every adaptEvery steps and adapts lambda', async () => {
    const d = blobs({ n: 32, seed: 34 });
    const spy = new RecordingDamping(0.01, 2);
    const t = fopWith(spy);
    for (let i = 0; i < 6; i++) await t.step(d.x, d.y);
    expect(spy.observations.map((o) => o.step)).toEqual([1, 3, 5]);
    for (const o of spy.observations) expect(Number.isFinite(o.reductionRatio)).toBe(true);
    // Small steps on a smooth loss: the quadratic model predicts the decrease well (rho near 1).
    expect(spy.observations[0].reductionRatio).toBeGreaterThan(0.25);
    expect(t.timings.total.adapt).toBeGreaterThan(0);
    t.dispose();

    const lm = levenbergMarquardt({ initial: 1, adaptEvery: 2 });
    const u = fopWith(lm);
    const values = [];
    for (let i = 0; i < 6; i++) values.push((await u.step(d.x, d.y)).damping);
    expect(values[0]).toBe(1);
    expect(new Set(values).size).toBeGreaterThan(1);
    u.dispose();
    tf.dispose([d.x, d.y]);
  });

  it('with clipping, q(delta) models the loss with its unclipped gradient: rho stays near 1 for tiny clipped steps', async () => {
    const d = blobs({ n: 32, seed: 36 });
    const spy = new RecordingDamping(0.01, 1);
    const t = new Trainer({
      model: mlp(),
      loss: 'categoricalCrossentropy',
      curvature: kfacCurvature({ decay: 0.95 }),
      projection: fisherOrthogonal(),
      damping: spy,
      updateRule: new Sgd({ momentum: 0 }),
      learningRate: 0.01,
      clipNorm: 1e-3,
    });
    const results = [];
    for (let i = 0; i < 4; i++) results.push(await t.step(d.x, d.y));
    // Clipping is active (the norm is far above 1e-3), so a q built from the clipped gradient
    // would predict gradNorm / 1e-3 times too little decrease, i.e. rho in the hundreds.
    for (const r of results) expect(r.gradNorm).toBeGreaterThan(0.1);
    // Steps this small make the quadratic model near exact: rho = 1 up to its second-order error.
    for (const o of spy.observations) expect(Math.abs(o.reductionRatio - 1)).toBeLessThan(0.1);
    t.dispose();
    tf.dispose([d.x, d.y]);
  });

  it('dispose() while a step awaits the device: the step rejects and leaves no tensor behind', async () => {
    const d = blobs({ n: 16, seed: 37 });
    const before = tf.memory().numTensors;
    const t = fopWith(new RecordingDamping(0.01));
    await t.step(d.x, d.y);
    const inFlight = t.step(d.x, d.y);
    t.dispose();
    await expect(inFlight).rejects.toMatchObject({ code: 'DISPOSED' });
    t.model.dispose();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([d.x, d.y]);
  });

  it('no tensor growth over 200 steps with curvature, projection, clipping and LM adaptation', async () => {
    const d = blobs({ n: 8, seed: 35 });
    const t = new Trainer({
      model: mlp({ hidden: 8 }),
      loss: 'categoricalCrossentropy',
      curvature: kfacCurvature(),
      projection: fisherOrthogonal(),
      damping: levenbergMarquardt({ initial: 0.01, adaptEvery: 5 }),
      updateRule: new Sgd(),
      learningRate: 0.01,
      clipNorm: 10,
      inverseEvery: 10,
    });
    await t.step(d.x, d.y);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 200; i++) await t.step(d.x, d.y);
    expect(tf.memory().numTensors).toBe(before);
    expect(t.skippedSteps).toBe(0);
    t.dispose();
    tf.dispose([d.x, d.y]);
  });
});
