import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { computeNormalisation, epochBatches, evalBatches, makeBatch, shuffledIndices, subsetSplit } from './dataset';
import type { ImageDataset } from './dataset';
import { loadDataset } from './load';

const tiny: ImageDataset = {
  name: 't',
  height: 1,
  width: 2,
  channels: 1,
  numClasses: 3,
  train: { images: Uint8Array.from([0, 255, 51, 102, 0, 0]), labels: Uint8Array.from([2, 0, 1]), count: 3 },
  test: { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 },
  source: 'test',
};

describe('dataset helpers', () => {
  it('shuffles deterministically per seed and as a permutation', () => {
    const a = Array.from(shuffledIndices(50, 7));
    expect(Array.from(shuffledIndices(50, 7))).toEqual(a);
    expect(Array.from(shuffledIndices(50, 8))).not.toEqual(a);
    expect([...a].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it('cuts epochs into full batches and evaluation into all examples', () => {
    expect(epochBatches(10, 4, 1).map((b) => b.length)).toEqual([4, 4]);
    expect(epochBatches(3, 4, 1).map((b) => b.length)).toEqual([3]);
    expect(evalBatches(10, 4).map((b) => b.length)).toEqual([4, 4, 2]);
  });

  it('standardises with train statistics and one-hot encodes labels without leaking tensors', async () => {
    const norm = computeNormalisation(tiny.train, 1);
    expect(norm.mean[0]).toBeCloseTo((0 + 1 + 0.2 + 0.4) / 6, 6);
    const before = tf.memory().numTensors;
    const batch = makeBatch(tiny, tiny.train, [0, 2], norm);
    const x = await batch.x.data();
    expect(x[0]).toBeCloseTo((0 - norm.mean[0]) / norm.std[0], 5);
    expect(x[1]).toBeCloseTo((1 - norm.mean[0]) / norm.std[0], 5);
    expect(Array.from(await batch.y.data())).toEqual([0, 0, 1, 0, 1, 0]);
    tf.dispose([batch.x, batch.y]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('takes seeded subsets that keep image/label pairs', () => {
    const sub = subsetSplit(tiny.train, 2, 3, 2);
    expect(sub.count).toBe(2);
    for (let i = 0; i < 2; i++) {
      const j = Array.from(tiny.train.labels).indexOf(sub.labels[i]);
      expect(Array.from(sub.images.subarray(2 * i, 2 * i + 2))).toEqual(Array.from(tiny.train.images.subarray(2 * j, 2 * j + 2)));
    }
  });

  it('loads the embedded MNIST digits with a fixed 80/20 split', async () => {
    const ds = await loadDataset('mnist');
    expect([ds.height, ds.width, ds.channels]).toEqual([28, 28, 1]);
    expect(ds.train.count + ds.test.count).toBe(10000);
    expect(ds.train.count).toBeGreaterThan(7900);
    const counts = new Array(10).fill(0);
    for (const l of ds.test.labels) counts[l]++;
    expect(Math.min(...counts)).toBeGreaterThan(150);
  });
});
