import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { categoricalCrossentropy } from './categorical';
import { meanSquaredError } from './mean-squared-error';
import { resolveLoss } from './resolve-loss';
import { sparseCategoricalCrossentropy } from './sparse-categorical';

const probs = () => tf.tensor2d([0.7, 0.2, 0.1, 0.1, 0.3, 0.6, 0.25, 0.5, 0.25], [3, 3]);
const logits = () => tf.tensor2d([1.2, -0.3, 0.4, 0.0, 2.0, -1.0, 0.5, 0.5, -0.5], [3, 3]);
const labels = () => tf.tensor1d([0, 2, 1], 'int32');

async function value(t: tf.Tensor): Promise<number> {
  return (await t.data())[0];
}

async function read(t: tf.Tensor): Promise<number[]> {
  return Array.from(await t.data());
}

function code(f: () => unknown): string {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(NatgradError);
    return (e as NatgradError).code;
  }
  return 'no error';
}

describe('loss values', () => {
  it('categorical cross-entropy from probabilities equals the tfjs-layers loss', async () => {
    const p = probs();
    const y = tf.oneHot(labels(), 3);
    const ours = categoricalCrossentropy().compute(y, p);
    const tfjs = tf.mean(tf.metrics.categoricalCrossentropy(y, p));
    expect(Math.abs((await value(ours)) - (await value(tfjs)))).toBeLessThan(1e-6);
    expect(Math.abs((await value(ours)) + (Math.log(0.7) + Math.log(0.6) + Math.log(0.5)) / 3)).toBeLessThan(1e-6);
  });

  it('fromLogits equals the cross-entropy of the softmax; sparse equals categorical on one-hot labels', async () => {
    const z = logits();
    const y = tf.oneHot(labels(), 3);
    const fromLogits = await value(categoricalCrossentropy({ fromLogits: true }).compute(y, z));
    const viaSoftmax = await value(categoricalCrossentropy().compute(y, tf.softmax(z)));
    expect(Math.abs(fromLogits - viaSoftmax)).toBeLessThan(1e-6);
    expect(Math.abs((await value(sparseCategoricalCrossentropy({ fromLogits: true }).compute(labels(), z))) - fromLogits)).toBeLessThan(1e-6);
    // Float labels with a trailing axis of 1 (Keras style) are accepted too.
    const floatLabels = tf.tensor2d([0, 2, 1], [3, 1]);
    expect(Math.abs((await value(sparseCategoricalCrossentropy().compute(floatLabels, probs()))) - (await value(categoricalCrossentropy().compute(y, probs()))))).toBeLessThan(1e-6);
  });

  it('mean squared error equals the tfjs-layers loss', async () => {
    const p = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const y = tf.tensor2d([1.5, 2, 2, 4, 7, 6], [2, 3]);
    expect(Math.abs((await value(meanSquaredError().compute(y, p))) - (await value(tf.mean(tf.metrics.meanSquaredError(y, p)))))).toBeLessThan(1e-6);
  });

  it('leave no tensors behind apart from the returned one', () => {
    const p = probs();
    const y = tf.oneHot(labels(), 3);
    for (const loss of [categoricalCrossentropy(), categoricalCrossentropy({ fromLogits: true }), meanSquaredError()]) {
      const before = tf.memory().numTensors;
      const l = loss.compute(y, p);
      const s = loss.sampleTargets?.(p, 3) as tf.Tensor;
      expect(tf.memory().numTensors).toBe(before + 2);
      tf.dispose([l, s]);
    }
    const before = tf.memory().numTensors;
    const s = sparseCategoricalCrossentropy().sampleTargets?.(p, 1) as tf.Tensor;
    const l = sparseCategoricalCrossentropy().compute(labels(), p);
    expect(tf.memory().numTensors).toBe(before + 3);
    tf.dispose([s, l]);
  });
});

describe('sampled targets', () => {
  it('categorical targets are one-hot, deterministic for a seed, and follow the predicted probabilities', async () => {
    const rows = 4000;
    const row = [0.2, 0.5, 0.3];
    const p = tf.tile(tf.tensor2d([row]), [rows, 1]);
    const loss = categoricalCrossentropy();
    const a = loss.sampleTargets?.(p, 17) as tf.Tensor;
    const b = loss.sampleTargets?.(p, 17) as tf.Tensor;
    const c = loss.sampleTargets?.(p, 18) as tf.Tensor;
    expect(a.shape).toEqual([rows, 3]);
    expect(a.dtype).toBe('float32');
    const data = await read(a);
    expect(data.every((v) => v === 0 || v === 1)).toBe(true);
    expect((await read(tf.sum(a, 1))).every((s) => s === 1)).toBe(true);
    expect(await read(b)).toEqual(data);
    expect(await read(c)).not.toEqual(data);
    const freq = await read(tf.mean(a, 0));
    // Binomial standard error at n = 4000 is below 0.008; allow 4 of them.
    for (let k = 0; k < 3; k++) expect(Math.abs(freq[k] - row[k])).toBeLessThan(0.032);
  });

  it('from logits samples the softmax; classes of probability 0 are never drawn; seed 0 is deterministic', async () => {
    const rows = 4000;
    const z = tf.tile(tf.tensor2d([[0, Math.log(3), -50]]), [rows, 1]);
    const s = categoricalCrossentropy({ fromLogits: true }).sampleTargets?.(z, 0) as tf.Tensor;
    const freq = await read(tf.mean(s, 0));
    expect(Math.abs(freq[0] - 0.25)).toBeLessThan(0.03);
    expect(Math.abs(freq[1] - 0.75)).toBeLessThan(0.03);
    expect(freq[2]).toBe(0);
    const again = categoricalCrossentropy({ fromLogits: true }).sampleTargets?.(z, 0) as tf.Tensor;
    expect(await read(again)).toEqual(await read(s));
    const zeroProb = tf.tile(tf.tensor2d([[0, 1, 0]]), [50, 1]);
    expect((await read(tf.argMax(categoricalCrossentropy().sampleTargets?.(zeroProb, 5) as tf.Tensor, 1))).every((k) => k === 1)).toBe(true);
  });

  it('sparse targets are int32 class indices, the same draw as the categorical one-hot', async () => {
    const p = tf.tile(probs(), [20, 1]);
    const sparse = sparseCategoricalCrossentropy().sampleTargets?.(p, 4) as tf.Tensor;
    const oneHot = categoricalCrossentropy().sampleTargets?.(p, 4) as tf.Tensor;
    expect(sparse.dtype).toBe('int32');
    expect(sparse.shape).toEqual([60]);
    expect(await read(sparse)).toEqual(await read(tf.argMax(oneHot, 1)));
  });

  it('mean squared error samples the Gaussian N(p, M/2) whose negative log-likelihood the loss is', async () => {
    const rows = 3000;
    const m = 4;
    const p = tf.tile(tf.tensor2d([[1, -2, 0.5, 3]]), [rows, 1]);
    const s = meanSquaredError().sampleTargets?.(p, 9) as tf.Tensor;
    const noise = tf.sub(s, p);
    const mean = await read(tf.mean(noise, 0));
    const variance = await read(tf.mean(tf.square(noise), 0));
    // sd of the mean: sqrt(2/3000) ~ 0.026; of the variance estimate: 2 * sqrt(2/3000) ~ 0.05.
    for (const v of mean) expect(Math.abs(v)).toBeLessThan(0.11);
    for (const v of variance) expect(Math.abs(v - m / 2)).toBeLessThan(0.2);
    const again = meanSquaredError().sampleTargets?.(p, 9) as tf.Tensor;
    expect(await read(again)).toEqual(await read(s));
  });

  it('with MSE the sampled Fisher of the predictions equals the Gauss-Newton matrix (2/M) I', async () => {
    // Per-example gradient g = d l_n / d p_n = (2/M)(p_n - y_n); E[g g^T] must be (2/M) I = d^2 l_n / d p_n^2.
    const rows = 4000;
    const m = 2;
    const p = tf.zeros([rows, m]);
    const y = meanSquaredError().sampleTargets?.(p, 21) as tf.Tensor;
    const perExample = tf.mul(2 / m, tf.sub(p, y));
    const fisher = (await tf.div(tf.matMul(perExample, perExample, true, false), rows).array()) as number[][];
    expect(Math.abs(fisher[0][0] - 2 / m)).toBeLessThan(0.06);
    expect(Math.abs(fisher[1][1] - 2 / m)).toBeLessThan(0.06);
    expect(Math.abs(fisher[0][1])).toBeLessThan(0.06);
  });
});

describe('input checks', () => {
  it('refuses mismatched shapes, non-tensors and bad seeds', () => {
    const p = probs();
    expect(code(() => categoricalCrossentropy().compute(labels(), p))).toBe('SHAPE_MISMATCH');
    expect(code(() => sparseCategoricalCrossentropy().compute(tf.oneHot(labels(), 3), p))).toBe('SHAPE_MISMATCH');
    expect(code(() => meanSquaredError().compute(tf.zeros([3, 2]), p))).toBe('SHAPE_MISMATCH');
    expect(code(() => categoricalCrossentropy().compute([1, 0] as unknown as tf.Tensor, p))).toBe('INVALID_ARGUMENT');
    expect(code(() => categoricalCrossentropy().compute(p, tf.tensor1d([1, 2])))).toBe('SHAPE_MISMATCH');
    expect(code(() => categoricalCrossentropy().sampleTargets?.(p, -1))).toBe('INVALID_ARGUMENT');
    expect(code(() => meanSquaredError().sampleTargets?.(p, 0.5))).toBe('INVALID_ARGUMENT');
  });
});

describe('resolveLoss', () => {
  it('maps tfjs names and picks probabilities or logits from the output activation', () => {
    expect(resolveLoss('categoricalCrossentropy').name).toBe('categoricalCrossentropy');
    expect(resolveLoss('categoricalCrossentropy', { outputActivation: 'softmax' }).name).toBe('categoricalCrossentropy');
    expect(resolveLoss('categoricalCrossentropy', { outputActivation: 'linear' }).name).toBe('categoricalCrossentropy(fromLogits)');
    expect(resolveLoss('sparseCategoricalCrossentropy', { fromLogits: true, outputActivation: 'softmax' }).name).toBe('sparseCategoricalCrossentropy(fromLogits)');
    expect(resolveLoss('meanSquaredError').name).toBe('meanSquaredError');
    expect(resolveLoss('mse').sampleTargets).toBeTypeOf('function');
    const own = meanSquaredError();
    expect(resolveLoss(own)).toBe(own);
  });

  it('refuses unknown names and cross-entropy on outputs that define no categorical distribution', () => {
    expect(code(() => resolveLoss('hinge'))).toBe('UNSUPPORTED_LOSS');
    expect(code(() => resolveLoss('binaryCrossentropy'))).toBe('UNSUPPORTED_LOSS');
    expect(code(() => resolveLoss('categoricalCrossentropy', { outputActivation: 'sigmoid' }))).toBe('UNSUPPORTED_LOSS');
    expect(() => resolveLoss('hinge')).toThrow(/'categoricalCrossentropy'/);
  });

  it('wraps a plain tfjs loss function as an empirical-only LossFunction (mean of its values)', async () => {
    const absErr = (a: tf.Tensor, b: tf.Tensor) => tf.abs(tf.sub(a, b));
    const loss = resolveLoss(absErr);
    expect(loss.name).toBe('absErr');
    expect(loss.sampleTargets).toBeUndefined();
    expect(await value(loss.compute(tf.tensor1d([1, 2]), tf.tensor1d([2, 4])))).toBe(1.5);
  });
});
