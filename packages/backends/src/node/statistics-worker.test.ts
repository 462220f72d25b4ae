import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { NatgradError, type StatisticsWorker } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { copyToHost } from '../host-copy';
import { createStatisticsWorker } from './statistics-worker';

/** The EMA of augmented Gram products computed here, with the ops the thread mirrors. */
function expectedAverage(batches: tf.Tensor2D[], decay: number): Float32Array {
  return tf.tidy(() => {
    let s: tf.Tensor = tf.zeros([batches[0].shape[1] + 1, batches[0].shape[1] + 1]);
    for (const x of batches) {
      const a = tf.concat([x, tf.ones([x.shape[0], 1])], 1);
      s = tf.add(tf.mul(s, decay), tf.mul(tf.div(tf.matMul(a, a, true, false), x.shape[0]), 1 - decay));
    }
    return s.dataSync().slice() as Float32Array;
  });
}

describe('createStatisticsWorker', () => {
  let worker: StatisticsWorker;
  beforeAll(async () => {
    await tf.setBackend('cpu');
    worker = await createStatisticsWorker();
  });
  afterAll(async () => {
    await worker.terminate();
  });

  it('folds Gram products into keyed averages in call order; write/read round trip', () => {
    const x1 = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const x2 = tf.tensor2d([0.5, -1, 2, 0, 1, 1], [3, 2]);
    const x1T = tf.transpose(x1);
    const before = tf.memory().numTensors;
    worker.allocate({ a: 3, b: 2 });
    worker.accumulate([{ key: 'a', rows: x1, augment: true, scale: { divide: 3 } }], 0.9);
    worker.accumulate([{ key: 'a', rows: x2, augment: true, scale: { divide: 3 } }, { key: 'b', rows: x1, rowsTransposed: x1T, augment: false, scale: { multiply: 2 } }], 0.9);
    const got = worker.read(['a', 'b']);
    expect(Array.from(got.a)).toEqual(Array.from(expectedAverage([x1, x2], 0.9)));
    // b: one batch of 2·x1ᵀx1 (from the given transpose) at weight 1 - 0.9
    const b = tf.tidy(() => tf.add(tf.mul(tf.zeros([2, 2]), 0.9), tf.mul(tf.mul(tf.matMul(tf.transpose(x1), x1), 2), 1 - 0.9)).dataSync().slice());
    expect(Array.from(got.b)).toEqual(Array.from(b));
    expect(got.b[0]).toBeCloseTo(7, 5);
    worker.write({ b: new Float32Array([1, 2, 3, 4]) });
    expect(Array.from(worker.read(['b']).b)).toEqual([1, 2, 3, 4]);
    // allocate() again resets to zero
    worker.allocate({ b: 2 });
    expect(Array.from(worker.read(['b']).b)).toEqual([0, 0, 0, 0]);
    worker.release(['a', 'b']);
    expect(() => worker.read(['a'])).toThrow(/unknown key "a"/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x1, x2, x1T]);
  });

  it('multiplies A·V·G with the current averages, also while a read is answered in between', () => {
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2]);
    const v = tf.tensor2d([1, -1, 0.5, 2, 0, 3], [3, 2]);
    worker.allocate({ A: 3, G: 2 });
    worker.accumulate([{ key: 'A', rows: x, augment: true, scale: { divide: 3 } }, { key: 'G', rows: x, augment: false, scale: { divide: 3 } }], 0.5);
    const finish = worker.multiply([{ aKey: 'A', gKey: 'G', vector: v }]);
    const averages = worker.read(['A', 'G']);
    const [product] = finish();
    const expected = tf.tidy(() => tf.matMul(tf.matMul(tf.tensor2d(averages.A, [3, 3]), v), tf.tensor2d(averages.G, [2, 2])).dataSync().slice());
    expect(Array.from(product)).toEqual(Array.from(expected));
    expect(() => finish()).toThrow(/finished twice/);
    const vT = tf.transpose(v) as tf.Tensor2D;
    expect(() => worker.multiply([{ aKey: 'A', gKey: 'G', vector: vT }])).toThrow(/shape \[3,2\]/);
    expect(() => worker.multiply([{ aKey: 'A', gKey: 'nope', vector: v }])).toThrow(NatgradError);
    worker.release(['A', 'G']);
    tf.dispose([x, v, vT]);
  });

  it('rejects bad requests with NatgradError before sending anything', () => {
    worker.allocate({ k: 3 });
    const x = tf.zeros([4, 2]) as tf.Tensor2D;
    const bad = (fn: () => void, pattern: RegExp) => {
      let error: unknown;
      try {
        fn();
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(NatgradError);
      expect((error as NatgradError).message + (error as NatgradError).expected).toMatch(pattern);
    };
    bad(() => worker.accumulate([{ key: 'k', rows: x, augment: false, scale: { divide: 4 } }], 0.9), /do not match its size/);
    bad(() => worker.accumulate([{ key: 'nope', rows: x, augment: true, scale: { divide: 4 } }], 0.9), /unknown key/);
    bad(() => worker.accumulate([{ key: 'k', rows: x, augment: true, scale: { divide: 0 } }], 0.9), /scale/);
    bad(() => worker.accumulate([{ key: 'k', rows: x, rowsTransposed: x, augment: true, scale: { divide: 4 } }], 0.9), /rowsTransposed/);
    bad(() => worker.accumulate([{ key: 'k', rows: x, augment: true, scale: { divide: 4 } }], 1), /decay/);
    bad(() => worker.accumulate([{ key: 'k', rows: x, augment: true, scale: { divide: 4 }, permutation: [0, 0, 2] }], 0.9), /permutation of 0..2/);
    bad(() => worker.allocate({ z: 0 }), /positive integer/);
    bad(() => worker.write({ k: new Float32Array(4) }), /9 entries/);
    // Nothing bad reached the thread: the average is still zero.
    expect(Array.from(worker.read(['k']).k)).toEqual(new Array(9).fill(0));
    worker.release(['k']);
    x.dispose();
  });

  it('refuses GPU backends and bad options; a terminated worker says so', async () => {
    await expect(createStatisticsWorker({ backend: 'webgl' as 'cpu' })).rejects.toThrow(/'wasm' or 'cpu'/);
    await expect(createStatisticsWorker({ maxInFlight: 0 })).rejects.toThrow(/maxInFlight/);
    await expect(createStatisticsWorker({ script: new URL('./no-such-thread.mjs', import.meta.url) })).rejects.toThrow(/did not start/);
    const w = await createStatisticsWorker();
    await w.terminate();
    expect(() => w.allocate({ a: 1 })).toThrow(/after terminate\(\)/);
    expect(() => w.release(['a'])).not.toThrow();
  });

  it('copyToHost returns a detached copy on cpu and wasm', async () => {
    for (const backend of ['cpu', 'wasm']) {
      await tf.setBackend(backend);
      const t = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
      const copy = copyToHost(t);
      expect(Array.from(copy)).toEqual([1, 2, 3, 4, 5, 6]);
      copy[0] = 99;
      expect(t.dataSync()[0]).toBe(1);
      t.dispose();
    }
    await tf.setBackend('cpu');
  });
});
