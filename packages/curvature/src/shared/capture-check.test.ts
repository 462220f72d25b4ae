import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { denseProblem } from '../testing/brute-force';
import { checkCapture } from './capture-check';

describe('checkCapture: the optional transposed Dense tensors', () => {
  it('accepts exact transposes and refuses wrong shapes, dtypes and disposed tensors with SHAPE_MISMATCH', async () => {
    const p = await denseProblem(7, 4, 3, 2);
    const good = { inputTransposed: tf.zeros([3, 4]), outputGradTransposed: tf.zeros([2, 4]) };
    expect(() => checkCapture('kfac', p.layer, { ...p.capture, ...good }, 4)).not.toThrow();
    const disposed = tf.zeros([3, 4]);
    disposed.dispose();
    const bad = [
      { inputTransposed: tf.zeros([4, 3]) },
      { outputGradTransposed: tf.zeros([4, 2]) },
      { inputTransposed: tf.zeros([3, 4], 'int32') },
      { inputTransposed: disposed },
    ];
    for (const extra of bad) {
      let err: unknown;
      try {
        checkCapture('kfac', p.layer, { ...p.capture, ...extra }, 4);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NatgradError);
      expect((err as NatgradError).code).toBe('SHAPE_MISMATCH');
    }
    tf.dispose([...Object.values(good), ...bad.flatMap((b) => Object.values(b))]);
    p.dispose();
  });
});
