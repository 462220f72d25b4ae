import * as tf from '@tensorflow/tfjs';
import { type CurvatureView, NatgradError } from '@natgrad/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { quadraticModelChange, reductionRatio } from './index';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

// Block "L" = [kernel (2x1), bias (1)] with an explicit 3x3 F; "free" is in no block.
const F = [
  [2, 0.5, 0],
  [0.5, 1, 0.2],
  [0, 0.2, 3],
];
const view: CurvatureView = {
  blocks: [{ name: 'L', params: ['k', 'b'] }],
  precondition: () => ({}),
  multiply: (v) =>
    tf.tidy(() => {
      const x = tf.concat([tf.reshape(v.k, [-1]), v.b]);
      const fx = tf.reshape(tf.matMul(tf.tensor2d(F), tf.reshape(x, [3, 1])), [3]);
      return { k: tf.reshape(tf.slice(fx, 0, 2), [2, 1]), b: tf.slice(fx, 2, 1) };
    }),
};

describe('quadraticModelChange()', () => {
  it('computes g^T d + 1/2 d^T (F + lambda I) d on the device, leaking nothing', () => {
    const g = { k: tf.tensor2d([[0.3], [-1]]), b: tf.tensor1d([2]), free: tf.tensor1d([1, -1]) };
    const d = { k: tf.tensor2d([[-0.5], [0.25]]), b: tf.tensor1d([0.1]), free: tf.tensor1d([0.2, 0.4]) };
    const before = tf.memory().numTensors;
    const q = quadraticModelChange(g, d, view, 0.1);
    expect(tf.memory().numTensors).toBe(before + 1);
    const gv = [0.3, -1, 2, 1, -1];
    const dv = [-0.5, 0.25, 0.1, 0.2, 0.4];
    const blockD = dv.slice(0, 3);
    const dFd = blockD.reduce((s, x, i) => s + x * F[i].reduce((t, fij, j) => t + fij * blockD[j], 0), 0);
    const expected = gv.reduce((s, x, i) => s + x * dv[i], 0) + 0.5 * (dFd + 0.1 * dv.reduce((s, x) => s + x * x, 0));
    expect(q.shape).toEqual([]);
    expect(q.dataSync()[0]).toBeCloseTo(expected, 5);
    q.dispose();
    tf.dispose([...Object.values(g), ...Object.values(d)]);
  });

  it('rejects mismatched maps, partial blocks, bad damping', () => {
    const g = { k: tf.zeros([2, 1]), b: tf.zeros([1]) };
    const before = tf.memory().numTensors;
    expect(() => quadraticModelChange(g, { k: g.k }, view, 0)).toThrow(/different parameters/);
    expect(() => quadraticModelChange({ k: g.k }, { k: g.k }, view, 0)).toThrow(/only part of block/);
    expect(() => quadraticModelChange(g, { k: g.k, b: g.k }, view, 0)).toThrow(/shapes/);
    expect(() => quadraticModelChange(g, g, view, -1)).toThrow(NatgradError);
    expect(() => quadraticModelChange(g, g, {} as never, 0)).toThrow(NatgradError);
    const broken = { ...view, multiply: () => ({}) };
    expect(() => quadraticModelChange(g, g, broken, 0)).toThrow(/multiply\(\) returned no valid result/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(g));
  });
});

describe('reductionRatio()', () => {
  it('is (after - before) / q, reading scalars without disposing them', () => {
    expect(reductionRatio(10, 9, -2)).toBeCloseTo(0.5, 15);
    const q = tf.scalar(-4);
    expect(reductionRatio(tf.scalar(3), 1, q)).toBeCloseTo(0.5, 6);
    expect(q.isDisposed).toBe(false);
    q.dispose();
  });

  it('guards q ~ 0 and non-finite inputs', () => {
    expect(reductionRatio(Number.NaN, 1, -1)).toBeNaN();
    expect(reductionRatio(1, Number.POSITIVE_INFINITY, -1)).toBeNaN();
    expect(reductionRatio(1, 1, 0)).toBe(1);
    expect(reductionRatio(1, 1 + 1e-14, 1e-14)).toBe(1);
    expect(reductionRatio(1, 0.5, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(reductionRatio(1, 1.5, 1e-3)).toBe(Number.NEGATIVE_INFINITY);
    expect(() => reductionRatio('1' as never, 1, 1)).toThrow(NatgradError);
  });
});
