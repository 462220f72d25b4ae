import * as tf from '@tensorflow/tfjs';
import type { LayerCapture } from '@natgrad/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { disposeMap, mergeCaptures } from './step';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

function part(seed: number, transposes: boolean): Record<string, LayerCapture> {
  const input = tf.randomNormal([3, 4], 0, 1, 'float32', seed);
  const outputGrad = tf.randomNormal([3, 2], 0, 1, 'float32', seed + 1);
  const c: LayerCapture = { input, outputGrad };
  if (transposes) {
    c.inputTransposed = tf.transpose(input);
    c.outputGradTransposed = tf.transpose(outputGrad);
  }
  return { d: c };
}

describe('mergeCaptures with the optional Dense transposes', () => {
  it('merged transposes are exactly the transposes of the merged captures; all are disposed by disposeMap', () => {
    const parts = [part(1, true), part(3, true)];
    const before = tf.memory().numTensors;
    const merged = mergeCaptures(parts);
    const m = merged.d;
    tf.tidy(() => {
      expect(Array.from((m.inputTransposed as tf.Tensor).dataSync())).toEqual(Array.from(tf.transpose(m.input).dataSync()));
      expect(Array.from((m.outputGradTransposed as tf.Tensor).dataSync())).toEqual(Array.from(tf.transpose(m.outputGrad).dataSync()));
    });
    expect(tf.memory().numTensors).toBe(before + 4);
    disposeMap(merged);
    expect(tf.memory().numTensors).toBe(before);
    for (const p of parts) disposeMap(p);
  });

  it('drops a transpose that some sub-batch lacks (the estimator then transposes itself)', () => {
    const parts = [part(5, true), part(7, false)];
    const merged = mergeCaptures(parts);
    expect(merged.d.inputTransposed).toBeUndefined();
    expect(merged.d.outputGradTransposed).toBeUndefined();
    disposeMap(merged);
    for (const p of parts) disposeMap(p);
  });
});
