import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { cholesky, choleskySolve, dampedInverse, eigh } from './index';
import { withBackend } from './test-helpers';
import { dampingForCondition, kfacFactor, randomSpd } from './test-matrices';

const tensor = (a: Float64Array, n: number) => tf.tensor2d(Float32Array.from(a), [n, n]);
const maxAbs = async (t: tf.Tensor) => Math.max(...Array.from(await t.data(), Math.abs));
const code = (c: string) => expect.objectContaining({ code: c });

async function relDiff(x: tf.Tensor, y: tf.Tensor): Promise<number> {
  const d = tf.sub(x, y);
  const r = (await maxAbs(d)) / (await maxAbs(y));
  d.dispose();
  return r;
}

describe('cholesky', () => {
  it.each(['host', 'blocked'] as const)('%s: L is lower triangular and L Lᵀ = A + λI (n = 70)', async (method) => {
    const n = 70;
    const { a: raw, lambdaMax } = kfacFactor(n, 2);
    const damping = dampingForCondition(lambdaMax, 1e3);
    const a = tensor(raw, n);
    const before = tf.memory().numTensors;
    const l = await cholesky(a, damping, { method });
    expect(tf.memory().numTensors).toBe(before + 1);
    const upper = tf.linalg.bandPart(l, 0, -1);
    const diag = tf.linalg.bandPart(l, 0, 0);
    const strictUpper = tf.sub(upper, diag);
    expect(await maxAbs(strictUpper)).toBe(0);
    const recon = tf.matMul(l, tf.transpose(l));
    const target = tf.add(a, tf.mul(tf.eye(n), damping));
    expect(await relDiff(recon, target)).toBeLessThan(1e-5);
    tf.dispose([a, l, upper, diag, strictUpper, recon, target]);
  });

  it('blocked uses several panels at n > 128 and agrees with host', async () => {
    const n = 200;
    const a = tensor(randomSpd(n, 100, 4), n);
    const lh = await cholesky(a, 0, { method: 'host' });
    const before = tf.memory().numTensors;
    const lb = await cholesky(a, 0, { method: 'blocked' });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(await relDiff(lb, lh)).toBeLessThan(1e-4);
    tf.dispose([a, lh, lb]);
  });

  it('rejects non-SPD input and non-Cholesky methods without leaking', async () => {
    const indefinite = tf.tensor2d([1, 2, 2, 1], [2, 2]);
    const big = tensor(randomSpd(140, 10, 1), 140);
    const negated = tf.neg(big) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    await expect(cholesky(indefinite)).rejects.toThrow(code('NOT_POSITIVE_DEFINITE'));
    await expect(cholesky(negated, 0, { method: 'blocked' })).rejects.toThrow(code('NOT_POSITIVE_DEFINITE'));
    await expect(cholesky(indefinite, 0, { method: 'newton-schulz' })).rejects.toThrow(code('INVALID_ARGUMENT'));
    await expect(cholesky(indefinite, -1)).rejects.toThrow(code('INVALID_ARGUMENT'));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([indefinite, big, negated]);
  });
});

describe('choleskySolve', () => {
  it('solves (L Lᵀ) X = B, matching the damped inverse times B', async () => {
    const n = 30;
    const a = tensor(randomSpd(n, 1e3, 8), n);
    const b = tf.randomNormal([n, 4], 0, 1, 'float32', 5) as tf.Tensor2D;
    const l = await cholesky(a, 0.01);
    const before = tf.memory().numTensors;
    const x = await choleskySolve(l, b);
    expect(tf.memory().numTensors).toBe(before + 1);
    const inv = await dampedInverse(a, 0.01);
    const ref = tf.matMul(inv, b);
    expect(await relDiff(x, ref)).toBeLessThan(1e-4);
    tf.dispose([a, b, l, x, inv, ref]);
  });

  it('rejects a B with the wrong rows and an L with a bad diagonal', async () => {
    const l = tf.tensor2d([1, 0, 0, 0], [2, 2]);
    const b = tf.ones([2, 1]) as tf.Tensor2D;
    const b3 = tf.ones([3, 1]) as tf.Tensor2D;
    const eye = tf.eye(2) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    await expect(choleskySolve(eye, b3)).rejects.toThrow(code('SHAPE_MISMATCH'));
    await expect(choleskySolve(l, b)).rejects.toThrow(code('NOT_POSITIVE_DEFINITE'));
    await expect(choleskySolve(l, b, { method: 'blocked' })).rejects.toThrow(code('INVALID_ARGUMENT'));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([l, b, b3, eye]);
  });
});

describe('eigh', () => {
  it.each([3, 40])('returns ascending clipped values and orthonormal vectors that reconstruct A (n = %i)', async (n) => {
    const a = tensor(randomSpd(n, 100, n), n);
    const before = tf.memory().numTensors;
    const { values, vectors } = await eigh(a);
    expect(tf.memory().numTensors).toBe(before + 2);
    const v = Array.from(await values.data());
    for (let i = 1; i < n; i++) expect(v[i]).toBeGreaterThanOrEqual(v[i - 1]);
    expect(v[0]).toBeCloseTo(0.01, 5);
    const recon = tf.matMul(tf.mul(vectors, values), tf.transpose(vectors));
    expect(await relDiff(recon, a)).toBeLessThan(1e-5);
    const gram = tf.matMul(tf.transpose(vectors), vectors);
    const eye = tf.eye(n);
    expect(await relDiff(gram, eye)).toBeLessThan(1e-5);
    tf.dispose([a, values, vectors, recon, gram, eye]);
  });

  it('clips the negative eigenvalues of a slightly indefinite input to 0', async () => {
    const a = tf.tensor2d([1, 0, 0, -1e-6], [2, 2]);
    const { values, vectors } = await eigh(a);
    expect(Array.from(await values.data())).toEqual([0, 1]);
    tf.dispose([a, values, vectors]);
  });

  it('rejects non-finite input, bad shapes and inverse-only methods', async () => {
    const nan = tf.tensor2d([1, Number.NaN, Number.NaN, 1], [2, 2]);
    const rect = tf.zeros([2, 3]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    await expect(eigh(nan)).rejects.toThrow(code('NON_FINITE_INPUT'));
    await expect(eigh(rect)).rejects.toThrow(code('SHAPE_MISMATCH'));
    await expect(eigh(nan, { method: 'newton-schulz' })).rejects.toThrow(code('INVALID_ARGUMENT'));
    await expect(eigh(nan, { method: 'native' })).rejects.toThrow(code('BACKEND_UNAVAILABLE'));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([nan, rect]);
  });

  it('gives the same result on wasm as on cpu', async () => {
    const n = 12;
    const raw = randomSpd(n, 50, 3);
    const out: number[][] = [];
    for (const backend of ['cpu', 'wasm']) {
      await withBackend(backend, async () => {
        const a = tensor(raw, n);
        const { values, vectors } = await eigh(a);
        out.push(Array.from(await values.data()));
        tf.dispose([a, values, vectors]);
      });
    }
    out[0].forEach((v, i) => {
      expect(out[1][i]).toBeCloseTo(v, 6);
    });
  });
});
