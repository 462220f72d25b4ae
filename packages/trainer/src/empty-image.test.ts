import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { fop } from './presets';
import { Trainer } from './trainer';

function convModel(size: number): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ inputShape: [size, size, 1], filters: 2, kernelSize: 1 }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

describe('a Conv2D model on empty (0x0) images', () => {
  it('is refused in the model\'s terms (layer, input and output size), not by the curvature\'s internals', () => {
    let err: unknown;
    try {
      new Trainer({ model: convModel(0), loss: 'categoricalCrossentropy', ...fop() });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(NatgradError);
    expect((err as NatgradError).code).toBe('INVALID_ARGUMENT');
    expect((err as Error).message).toMatch(/Conv2D layer "conv2d_\w+" has an empty input/);
    expect((err as NatgradError).received).toBe('input 0x0 -> output 0x0');
    expect((err as Error).message).not.toMatch(/kfac\.init/);
    const fine = new Trainer({ model: convModel(2), loss: 'categoricalCrossentropy', ...fop() });
    fine.dispose();
  });
});
