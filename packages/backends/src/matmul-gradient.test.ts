import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  type TransposeStrategy,
  batchMatMulGradA,
  batchMatMulGradB,
  batchMatMulGradConfig,
  transposeStrategyFor,
} from './matmul-gradient';
import { maxAbsDiff, seededValues } from './test-helpers';
import { installWasmTrainingKernels } from './wasm-training-kernels';

interface Case {
  label: string;
  a: number[];
  b: number[];
  transposeA: boolean;
  transposeB: boolean;
}

const flagCases: Case[] = [
  { label: 'A B', a: [5, 4], b: [4, 3], transposeA: false, transposeB: false },
  { label: 'A B^T', a: [5, 4], b: [3, 4], transposeA: false, transposeB: true },
  { label: 'A^T B', a: [4, 5], b: [4, 3], transposeA: true, transposeB: false },
  { label: 'A^T B^T', a: [4, 5], b: [3, 4], transposeA: true, transposeB: true },
  { label: 'batched A B', a: [2, 5, 4], b: [2, 4, 3], transposeA: false, transposeB: false },
  { label: 'batched A^T B', a: [2, 4, 5], b: [2, 4, 3], transposeA: true, transposeB: false },
  { label: 'batched A B^T', a: [3, 5, 4], b: [3, 3, 4], transposeA: false, transposeB: true },
  { label: 'batched A^T B^T', a: [2, 4, 5], b: [2, 3, 4], transposeA: true, transposeB: true },
];

/** Inputs of a case plus an arbitrary (not all-ones) upstream gradient. */
function inputs(c: Case, seed: number) {
  const a = tf.tensor(seededValues(c.a.reduce((x, y) => x * y, 1), seed), c.a);
  const b = tf.tensor(seededValues(c.b.reduce((x, y) => x * y, 1), seed + 1), c.b);
  const out = tf.matMul(a, b, c.transposeA, c.transposeB);
  const dy = tf.tensor(seededValues(out.size, seed + 2), out.shape);
  out.dispose();
  return { a, b, dy };
}

/** dA, dB via tf.grads of sum(C * dy) with whatever gradient/kernels are registered. */
function autodiff(c: Case, seed: number): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const { a, b, dy } = inputs(c, seed);
    const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(x, y, c.transposeA, c.transposeB), dy));
    const [da, db] = tf.grads(f)([a, b]);
    expect(da.shape).toEqual(c.a);
    expect(db.shape).toEqual(c.b);
    return [da.dataSync() as Float32Array, db.dataSync() as Float32Array];
  });
}

const stockGradient = tf.getGradient('BatchMatMul');

describe('batchMatMul gradient (cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  it('captured the stock gradient before installing', () => {
    expect(stockGradient).toBeDefined();
    expect(stockGradient).not.toBe(batchMatMulGradConfig);
  });

  for (const c of flagCases) {
    for (const strategy of ['explicit', 'flags'] as TransposeStrategy[]) {
      it(`equals the stock gradient: ${c.label}, ${strategy}`, () => {
        const before = tf.memory().numTensors;
        tf.tidy(() => {
          const { a, b, dy } = inputs(c, 3);
          const attrs = { transposeA: c.transposeA, transposeB: c.transposeB } as unknown as tf.NamedAttrMap;
          const stock = stockGradient!.gradFunc(dy, [a, b], attrs) as Record<string, () => tf.Tensor>;
          const da = batchMatMulGradA(dy, a, b, c.transposeA, c.transposeB, strategy);
          const db = batchMatMulGradB(dy, a, b, c.transposeA, c.transposeB, strategy);
          expect(da.shape).toEqual(c.a);
          expect(db.shape).toEqual(c.b);
          expect(maxAbsDiff(da.dataSync(), stock.a().dataSync())).toBeLessThan(1e-5);
          expect(maxAbsDiff(db.dataSync(), stock.b().dataSync())).toBeLessThan(1e-5);
        });
        expect(tf.memory().numTensors).toBe(before);
      });
    }
  }

  it('sums over broadcast batch dimensions (the stock gradient cannot)', () => {
    installWasmTrainingKernels();
    const c: Case = { label: 'broadcast', a: [1, 5, 4], b: [3, 4, 2], transposeA: false, transposeB: false };
    const [da, db] = autodiff(c, 7);
    // Reference: the same product with A tiled explicitly, whose gradient is then summed over the tiles.
    const [daRef, dbRef] = tf.tidy(() => {
      const { a, b, dy } = inputs(c, 7);
      const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.matMul(tf.tile(x, [3, 1, 1]), y), dy));
      const [ga, gb] = tf.grads(f)([a, b]);
      return [ga.dataSync(), gb.dataSync()];
    });
    expect(maxAbsDiff(da, daRef)).toBeLessThan(1e-5);
    expect(maxAbsDiff(db, dbRef)).toBeLessThan(1e-5);
  });

  it('chooses explicit transposes on cpu/wasm and flags where kernels fuse them', () => {
    expect(transposeStrategyFor('wasm')).toBe('explicit');
    expect(transposeStrategyFor('cpu')).toBe('explicit');
    expect(transposeStrategyFor('webgl')).toBe('flags');
    expect(transposeStrategyFor('webgpu')).toBe('flags');
    expect(transposeStrategyFor('tensorflow')).toBe('flags');
  });
});

describe('matMul training kernels on wasm', () => {
  beforeAll(async () => {
    installWasmTrainingKernels();
    await tf.setBackend('wasm');
  });

  for (const c of flagCases) {
    it(`forward and gradients equal cpu: ${c.label}`, async () => {
      const forward = () =>
        tf.tidy(() => {
          const { a, b } = inputs(c, 11);
          return tf.matMul(a, b, c.transposeA, c.transposeB).dataSync();
        });
      await tf.setBackend('cpu');
      const fwdCpu = forward();
      const [daCpu, dbCpu] = autodiff(c, 11);
      await tf.setBackend('wasm');
      const backend = tf.engine().backend;
      const tensorsBefore = tf.memory().numTensors;
      const dataBefore = backend.numDataIds();
      const fwdWasm = forward();
      const [daWasm, dbWasm] = autodiff(c, 11);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(backend.numDataIds()).toBe(dataBefore);
      expect(maxAbsDiff(fwdWasm, fwdCpu)).toBeLessThan(1e-5);
      expect(maxAbsDiff(daWasm, daCpu)).toBeLessThan(1e-5);
      expect(maxAbsDiff(dbWasm, dbCpu)).toBeLessThan(1e-5);
    });
  }

  it('fused.matMul gradients (what tf.layers Dense uses) equal cpu', async () => {
    const run = () =>
      tf.tidy(() => {
        const x = tf.tensor2d(seededValues(6 * 5, 13), [6, 5]);
        const w = tf.tensor2d(seededValues(5 * 4, 14), [5, 4]);
        const bias = tf.tensor1d(seededValues(4, 15));
        const f = (xx: tf.Tensor, ww: tf.Tensor, bb: tf.Tensor) =>
          tf.sum(tf.square(tf.fused.matMul({ a: xx as tf.Tensor2D, b: ww as tf.Tensor2D, bias: bb, activation: 'relu' })));
        return tf.grads(f)([x, w, bias]).map((g) => g.dataSync());
      });
    await tf.setBackend('cpu');
    const expected = run();
    await tf.setBackend('wasm');
    const got = run();
    for (let i = 0; i < 3; i++) expect(maxAbsDiff(got[i], expected[i])).toBeLessThan(1e-4);
  });
});
