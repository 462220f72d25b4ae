/**
 * The memory estimate against the real thing: tf.profile's peak bytes of one training step with
 * an inverse refresh, on wasm, for small configurations of every preset and model. The estimate
 * must never be below the measured peak (a refusal is only useful if an accepted run fits), nor
 * so far above it that reasonable runs are refused.
 */
import { Trainer } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { chooseBackend } from '../backend';
import { parseTrainFlags } from '../flags/train-flags';
import { makeComposition } from '../optimizer';
import { buildModel } from './index';
import { estimateTrainingMemory } from './memory';

beforeAll(async () => {
  await chooseBackend('wasm');
});

const CASES = [
  '--model mlp --width 256 --optimizer sgd --batch 64',
  '--model mlp --width 256 --optimizer adamw --batch 64',
  '--model mlp --width 256 --optimizer kfac --batch 64',
  '--model mlp --width 256 --optimizer fop --batch 64',
  '--model mlp --width 256 --optimizer diagonal-fop --batch 64',
  '--model cnn --optimizer fop --batch 64',
  '--model resnet --dataset cifar10 --width 4 --optimizer fop --batch 16',
];

describe('memory estimate vs measured peak (wasm)', () => {
  it.each(CASES)('%s', async (flags) => {
    const config = parseTrainFlags([...flags.split(' '), '--inverse-every', '1']).config;
    const shape: [number, number, number] = config.dataset === 'cifar10' ? [32, 32, 3] : [28, 28, 1];
    const model = buildModel(config.model, { inputShape: shape, numClasses: 10, seed: 1, outputActivation: 'softmax', width: config.width ?? undefined });
    const trainer = new Trainer({ model, loss: 'categoricalCrossentropy', seed: 1, metrics: ['accuracy'], ...makeComposition(config, 10, undefined) });
    const x = tf.randomNormal([config.batch, ...shape], 0, 1, 'float32', 1) as tf.Tensor4D;
    const labels = tf.randomUniform([config.batch], 0, 10, 'int32', 2) as tf.Tensor1D;
    const y = tf.tidy(() => tf.oneHot(labels, 10).toFloat()) as tf.Tensor2D;
    try {
      await trainer.step(x, y);
      const profile = await tf.profile(async () => {
        await trainer.step(x, y);
      });
      const estimate = estimateTrainingMemory(config, shape, 10).totalBytes;
      expect(estimate).toBeGreaterThanOrEqual(profile.peakBytes);
      expect(estimate).toBeLessThan(3 * profile.peakBytes);
    } finally {
      trainer.dispose();
      model.dispose();
      tf.dispose([x, labels, y]);
    }
  });
});
