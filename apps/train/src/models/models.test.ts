import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { MODELS, buildModel, countParams } from './index';

describe('model builders', () => {
  it.each(MODELS)('%s maps a batch to class probabilities, seeded and leak-free', async (name) => {
    const shape: [number, number, number] = name === 'resnet' ? [8, 8, 3] : [28, 28, 1];
    const before = tf.memory().numTensors;
    const opts = { inputShape: shape, numClasses: 10, seed: 3, outputActivation: 'softmax' as const, width: 8 };
    const a = buildModel(name, opts);
    const b = buildModel(name, opts);
    const x = tf.randomNormal([2, ...shape], 0, 1, 'float32', 1);
    const ya = a.predict(x) as tf.Tensor;
    const yb = b.predict(x) as tf.Tensor;
    expect(ya.shape).toEqual([2, 10]);
    const sums = tf.sum(ya, 1);
    expect(Array.from(await sums.data()).map((v) => Math.round(v * 1e4) / 1e4)).toEqual([1, 1]);
    sums.dispose();
    expect(Array.from(await ya.data())).toEqual(Array.from(await yb.data()));
    expect(countParams(a)).toBeGreaterThan(100);
    tf.dispose([x, ya, yb]);
    a.dispose();
    b.dispose();
    expect(tf.memory().numTensors).toBe(before);
  });

  it('the default MNIST CNN is small', () => {
    const m = buildModel('cnn', { inputShape: [28, 28, 1], numClasses: 10, seed: 1, outputActivation: 'softmax' });
    expect(countParams(m)).toBeLessThan(40000);
    m.dispose();
  });
});
