import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { diagonal, diagonalFop, kfac } from './presets';
import { Trainer } from './trainer';

/** A model with trainable variables but no Dense or Conv2D layer (an embedding lookup). */
function embeddingModel(): tf.Sequential {
  const m = tf.sequential();
  m.add(tf.layers.embedding({ inputDim: 10, outputDim: 3, inputLength: 1, embeddingsInitializer: tf.initializers.randomNormal({ seed: 1 }) }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.activation({ activation: 'softmax' }));
  return m;
}

describe('a model without Dense/Conv2D layers', () => {
  it("kfac's error suggests diagonal({ mode: 'empirical' }), and following it trains", async () => {
    let message = '';
    try {
      new Trainer({ model: embeddingModel(), loss: 'categoricalCrossentropy', ...kfac() });
    } catch (err) {
      expect(err).toBeInstanceOf(NatgradError);
      message = (err as Error).message;
    }
    expect(message).toContain("diagonal({ mode: 'empirical' })");

    const x = tf.tensor2d([[1], [2], [3], [4]]);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 0], 'int32'), 3);
    for (const preset of [diagonal, diagonalFop]) {
      const t = new Trainer({ model: embeddingModel(), loss: 'categoricalCrossentropy', ...preset({ mode: 'empirical', learningRate: 0.1 }) });
      const first = await t.step(x, y);
      let last = first;
      for (let i = 0; i < 20; i++) last = await t.step(x, y);
      expect(first.skipped || last.skipped).toBe(false);
      expect(last.loss).toBeLessThan(first.loss);
      t.dispose();
    }
    expect(() => diagonal({ mode: 'nope' as 'fisher' })).toThrow(/unknown mode/);
    tf.dispose([x, y]);
  });
});
