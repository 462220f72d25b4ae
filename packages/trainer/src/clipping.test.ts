import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { clipByMeanNorm, globalNorm } from './clipping';

describe('clipByMeanNorm', () => {
  it('scales all maps by maxNorm / ||mean|| when the mean is too long, and leaves short ones alone', async () => {
    const a = { w: tf.tensor1d([3, 0]), b: tf.tensor1d([0]) };
    const b = { w: tf.tensor1d([3, 0]), b: tf.tensor1d([8]) };
    const before = tf.memory().numTensors;
    const { clipped, norm } = clipByMeanNorm([a, b], 2.5);
    expect((await norm.data())[0]).toBeCloseTo(5, 6); // mean = ([3,0],[4]) -> norm 5
    expect(Array.from(await clipped[0].w.data())).toEqual([1.5, 0]);
    expect(Array.from(await clipped[1].b.data())).toEqual([4]);
    const n = globalNorm(clipped[1]);
    expect((await n.data())[0]).toBeCloseTo(Math.hypot(1.5, 4), 6);
    const loose = clipByMeanNorm([a, b], 10);
    expect(Array.from(await loose.clipped[1].b.data())).toEqual([8]);
    tf.dispose([norm, n, loose.norm, clipped, loose.clipped] as unknown as tf.Tensor[]);
    for (const m of [...clipped, ...loose.clipped]) tf.dispose(Object.values(m));
    expect(tf.memory().numTensors).toBe(before);
    expect(() => clipByMeanNorm([a], 0)).toThrow(/clipping norm/);
    tf.dispose([...Object.values(a), ...Object.values(b)]);
  });
});
