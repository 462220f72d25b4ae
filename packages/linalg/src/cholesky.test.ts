import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { cholesky, choleskySolve, dampedInverse, eigh } from './index';
import { dampingForCondition, kfacFactor, randomSpd } from './test-matrices';

const tensor = (a: Float64Array, n: number) => tf.tensor2d(Float32Array.from(a), [n, n]);
const maxAbs = (t: tf.Tensor) => Math.max(...Array.from(t.dataSync(), Math.abs));

function relDiff(x: tf.Tensor, y: tf.Tensor): number {
  const d = tf.sub(x, y);
  const r = maxAbs(d) / maxAbs(y);
  d.dispose();
  return r;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
});

describe('cholesky', () => {
  it.each(['host', 'blocked'] as const)('%s: L is lower triangular and L Lᵀ = A + λI (n = 70)', (method) => {
    const n = 70;
    const { a: raw, lambdaMax } = kfacFactor(n, 2);
    const damping = dampingForCondition(lambdaMax, 1e3);
    const a = tensor(raw, n);
    const before = tf.memory().numTensors;
    const l = cholesky(a, damping, { method });
    expect(tf.memory().numTensors).toBe(before + 1);
    const upper = tf.linalg.bandPart(l, 0, -1);
    const diag = tf.linalg.bandPart(l, 0, 0);
    expect(maxAbs(tf.sub(upper, diag))).toBe(0);
    const recon = tf.matMul(l, tf.transpose(l));
    const target = tf.add(a, tf.mul(tf.eye(n), damping));
    expect(relDiff(recon, target)).toBeLessThan(1e-5);
    tf.dispose([a, l, upper, diag, recon, target]);
  });

  it('blocked uses several panels at n > 128 and agrees with host', () => {
    const n = 200;
    const a = tensor(randomSpd(n, 100, 4), n);
    const lh = cholesky(a, 0, { method: 'host' });
    const before = tf.memory().numTensors;
    const lb = cholesky(a, 0, { method: 'blocked' });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(relDiff(lb, lh)).toBeLessThan(1e-4);
    tf.dispose([a, lh, lb]);
  });

  it('rejects non-SPD input and non-Cholesky methods without leaking', () => {
    const indefinite = tf.tensor2d([1, 2, 2, 1], [2, 2]);
    const big = tensor(randomSpd(140, 10, 1), 140);
    const negated = tf.neg(big) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => cholesky(indefinite)).toThrow(expect.objectContaining({ code: 'NOT_POSITIVE_DEFINITE' }));
    expect(() => cholesky(negated, 0, { method: 'blocked' })).toThrow(expect.objectContaining({ code: 'NOT_POSITIVE_DEFINITE' }));
    expect(() => cholesky(indefinite, 0, { method: 'newton-schulz' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => cholesky(indefinite, -1)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([indefinite, big, negated]);
  });
});

describe('choleskySolve', () => {
  it('solves (L Lᵀ) X = B, matching the damped inverse times B', () => {
    const n = 30;
    const a = tensor(randomSpd(n, 1e3, 8), n);
    const b = tf.randomNormal([n, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
    const l = cholesky(a, 0.01);
    const before = tf.memory().numTensors;
    const x = choleskySolve(l, b);
    expect(tf.memory().numTensors).toBe(before + 1);
    const inv = dampedInverse(a, 0.01);
    const ref = tf.matMul(inv, b);
    expect(relDiff(x, ref)).toBeLessThan(1e-4);
    tf.dispose([a, b, l, x, inv, ref]);
  });

  it('rejects a B with the wrong rows and an L with a bad diagonal', () => {
    const l = tf.tensor2d([1, 0, 0, 0], [2, 2]);
    const b = tf.ones([2, 1]) as tf.Tensor2D;
    const b3 = tf.ones([3, 1]) as tf.Tensor2D;
    expect(() => choleskySolve(tf.eye(2) as tf.Tensor2D, b3)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => choleskySolve(l, b)).toThrow(expect.objectContaining({ code: 'NOT_POSITIVE_DEFINITE' }));
    expect(() => choleskySolve(l, b, { method: 'blocked' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    tf.dispose([l, b, b3]);
  });
});

describe('eigh', () => {
  it.each([3, 40])('returns ascending clipped values and orthonormal vectors that reconstruct A (n = %i)', (n) => {
    const a = tensor(randomSpd(n, 100, n), n);
    const before = tf.memory().numTensors;
    const { values, vectors } = eigh(a);
    expect(tf.memory().numTensors).toBe(before + 2);
    const v = Array.from(values.dataSync());
    for (let i = 1; i < n; i++) expect(v[i]).toBeGreaterThanOrEqual(v[i - 1]);
    expect(v[0]).toBeCloseTo(0.01, 5);
    const recon = tf.matMul(tf.mul(vectors, values), tf.transpose(vectors));
    expect(relDiff(recon, a)).toBeLessThan(1e-5);
    const gram = tf.matMul(tf.transpose(vectors), vectors);
    expect(relDiff(gram, tf.eye(n))).toBeLessThan(1e-5);
    tf.dispose([a, values, vectors, recon, gram]);
  });

  it('clips the negative eigenvalues of a slightly indefinite input to 0', () => {
    const a = tf.tensor2d([1, 0, 0, -1e-6], [2, 2]);
    const { values, vectors } = eigh(a);
    expect(Array.from(values.dataSync())).toEqual([0, 1]);
    tf.dispose([a, values, vectors]);
  });

  it('rejects non-finite input, bad shapes and inverse-only methods', () => {
    const nan = tf.tensor2d([1, Number.NaN, Number.NaN, 1], [2, 2]);
    const rect = tf.zeros([2, 3]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    expect(() => eigh(nan)).toThrow(expect.objectContaining({ code: 'NON_FINITE_INPUT' }));
    expect(() => eigh(rect)).toThrow(expect.objectContaining({ code: 'SHAPE_MISMATCH' }));
    expect(() => eigh(nan, { method: 'newton-schulz' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
    expect(() => eigh(nan, { method: 'native' })).toThrow(expect.objectContaining({ code: 'BACKEND_UNAVAILABLE' }));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([nan, rect]);
  });

  it('gives the same result on wasm as on cpu', async () => {
    const n = 12;
    const raw = randomSpd(n, 50, 3);
    const out: number[][] = [];
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const a = tensor(raw, n);
      const { values, vectors } = eigh(a);
      out.push(Array.from(values.dataSync()));
      tf.dispose([a, values, vectors]);
    }
    await tf.setBackend('cpu');
    out[0].forEach((v, i) => {
      expect(out[1][i]).toBeCloseTo(v, 6);
    });
  });
});
