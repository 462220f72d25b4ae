import { describe, expect, it } from 'vitest';
import { BatchOrder, gatherBatch } from './batches';

describe('host batches', () => {
  it('gathers the picked examples, scaled to [0, 1], with one-hot labels', () => {
    const split = { images: new Uint8Array([0, 255, 51, 102, 10, 20]), labels: new Uint8Array([2, 0, 1]), count: 3 };
    const b = gatherBatch(split, [2, 0], 2, 3);
    expect(Array.from(b.pixels)).toEqual([10 / 255, 20 / 255, 0, 1].map(Math.fround));
    expect(Array.from(b.oneHot)).toEqual([0, 1, 0, 0, 0, 1]);
    expect(b.size).toBe(2);
  });

  it('draws a new permutation when an epoch runs out and drops the partial batch', () => {
    let calls = 0;
    const order = new BatchOrder(5, 2, (n) => {
      calls++;
      return Int32Array.from({ length: n }, (_, i) => (i + calls) % n);
    });
    expect(Array.from(order.take())).toEqual([1, 2]);
    expect(Array.from(order.take())).toEqual([3, 4]);
    expect(order.epoch).toBe(0);
    // The fifth example would make a batch of one: epoch 1 starts instead.
    expect(Array.from(order.take())).toEqual([2, 3]);
    expect(order.epoch).toBe(1);
  });
});
