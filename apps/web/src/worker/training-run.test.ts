import * as tf from '@tensorflow/tfjs-core';
import { describe, expect, it } from 'vitest';
import type { ImageDataset } from '../data/image-dataset';
import type { EvalRecord, StepRecord } from '../metrics/run-record';
import { resolveRunConfig } from './run-config';
import { TrainingRun } from './training-run';

/** Two classes told apart by which half of a 6x6 image is bright, with some noise. */
function halves(count: number, seed: number): ImageDataset['train'] {
  let s = seed;
  const rand = () => {
    s = (s * 1103515245 + 12345) % 2 ** 31;
    return s / 2 ** 31;
  };
  const images = new Uint8Array(count * 36);
  const labels = new Uint8Array(count);
  for (let i = 0; i < count; i++) {
    labels[i] = i % 2;
    for (let p = 0; p < 36; p++) images[i * 36 + p] = Math.round(((p < 18) === (i % 2 === 0) ? 180 : 40) + 60 * rand());
  }
  return { images, labels, count };
}
const data: ImageDataset = { name: 'halves', height: 6, width: 6, channels: 1, numClasses: 2, train: halves(64, 1), test: halves(32, 2), source: 'synthetic' };

async function train(optimizer: string, extra = {}) {
  const steps: StepRecord[] = [];
  const evals: EvalRecord[] = [];
  const traces: unknown[] = [];
  const run = new TrainingRun(resolveRunConfig({ optimizer, steps: 12, batchSize: 16, hidden: 8, evalEvery: 6, evalSize: 32, ...extra }), data);
  const outcome = await run.run({ step: (r, t) => {
        steps.push(r);
        traces.push(t);
      }, evaluated: (e) => evals.push(e) }, () => false);
  run.dispose();
  return { outcome, steps, evals, traces };
}

describe('a training run as the worker drives it', () => {
  it('trains FOP: the loss falls, diagnostics per Dense layer every step, test accuracy twice, no tensor left', async () => {
    const before = tf.memory().numTensors;
    const { outcome, steps, evals } = await train('fop');
    expect(outcome).toBe('finished');
    expect(steps.map((s) => s.step)).toEqual([...Array(12).keys()]);
    const early = (steps[0].loss + steps[1].loss) / 2;
    const late = (steps[10].loss + steps[11].loss) / 2;
    expect(late).toBeLessThan(early);
    expect(Object.keys(steps[3].diagnostics).sort()).toEqual(['dense1', 'dense2', 'logits']);
    expect(Number.isFinite(steps[3].diagnostics.dense1.beta)).toBe(true);
    expect(steps[11].seconds).toBeGreaterThan(steps[0].seconds);
    expect(evals.map((e) => e.step)).toEqual([6, 12]);
    expect(evals[1].testAccuracy).toBeGreaterThan(0.5);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the same seed gives the same losses; trace reports the weight moves', async () => {
    const a = await train('sgd', { trace: true, steps: 3, evalEvery: 0 });
    const b = await train('sgd', { trace: true, steps: 3, evalEvery: 0 });
    expect(a.steps.map((s) => s.loss)).toEqual(b.steps.map((s) => s.loss));
    expect(a.traces[0]).toMatchObject({ loss: a.steps[0].loss });
    expect((a.traces[0] as { move: number }).move).toBeGreaterThan(0);
    expect(a.steps[0].diagnostics).toEqual({});
  });

  it('stops between steps when asked, with a final evaluation', async () => {
    const steps: StepRecord[] = [];
    const evals: EvalRecord[] = [];
    const run = new TrainingRun(resolveRunConfig({ optimizer: 'adamw', steps: 50, batchSize: 16, hidden: 4, evalEvery: 0, evalSize: 8 }), data);
    const outcome = await run.run({ step: (r) => steps.push(r), evaluated: (e) => evals.push(e) }, () => steps.length >= 2);
    run.dispose();
    expect(outcome).toBe('stopped');
    expect(steps).toHaveLength(2);
    expect(evals.map((e) => e.step)).toEqual([2]);
  });

  it('refuses a bad setting naming the field', () => {
    expect(() => resolveRunConfig({ optimizer: 'lbfgs' })).toThrow(/optimizer/);
    expect(() => resolveRunConfig({ optimizer: 'fop', batchSize: 7 })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/batchSize/) }));
    expect(() => resolveRunConfig({ optimizer: 'fop', backend: 'tensorflow' as never })).toThrow(/backend/);
    expect(() => resolveRunConfig({ optimizer: 'fop', damping: -1 })).toThrow(/damping/);
    expect(() => resolveRunConfig({ optimizer: 'fop', downsample: 3 })).toThrow(/downsample/);
  });
});
