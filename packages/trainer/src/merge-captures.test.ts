import * as tf from '@tensorflow/tfjs';
import type { LayerCapture } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { disposeMap, mergeCaptures } from './step';

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
  it('merged transposes are exactly the transposes of the merged captures; all are disposed by disposeMap', async () => {
    const parts = [part(1, true), part(3, true)];
    const before = tf.memory().numTensors;
    const merged = mergeCaptures(parts);
    const m = merged.d;
    const transposed = tf.tidy(() => [tf.transpose(m.input), tf.transpose(m.outputGrad)]);
    expect(Array.from(await (m.inputTransposed as tf.Tensor).data())).toEqual(Array.from(await transposed[0].data()));
    expect(Array.from(await (m.outputGradTransposed as tf.Tensor).data())).toEqual(Array.from(await transposed[1].data()));
    tf.dispose(transposed);
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
