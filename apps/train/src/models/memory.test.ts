import { NatgradError } from '@natgrad/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { FlagError } from '../flags/flag-error';
import { parseTrainFlags } from '../flags/train-flags';
import { MODELS, buildModel, countParams } from './index';
import { layerShapes, parameterCount } from './layer-shapes';
import { backendMemoryLimit, checkTrainingMemory, estimateTrainingMemory } from './memory';

const GIB = 1024 ** 3;

function flagErrorOf(fn: () => unknown): FlagError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    return e as FlagError;
  }
  throw new Error('expected a FlagError');
}

describe('layer shapes', () => {
  it.each(MODELS)('%s: the computed layers are the built model’s Dense/Conv2D layers, with its parameter count', (name) => {
    for (const [shape, width] of [[[28, 28, 1], 8], [[32, 32, 3], 5], [[9, 7, 2], 3]] as [[number, number, number], number][]) {
      const opts = { inputShape: shape, numClasses: 10, seed: 1, outputActivation: 'softmax' as const, width };
      const model = buildModel(name, opts);
      const layers = layerShapes(name, opts);
      const built = model.layers.filter((l) => ['Dense', 'Conv2D'].includes(l.getClassName()));
      expect(layers.map((l) => l.name).sort()).toEqual(built.map((l) => l.name).sort());
      expect(parameterCount(layers)).toBe(countParams(model));
      model.dispose();
    }
  });

  it('the CNN refuses images too small for its pooling, naming --model and the image size', () => {
    const before = tf.memory().numTensors;
    let error: unknown;
    try {
      buildModel('cnn', { inputShape: [3, 3, 1], numClasses: 10, seed: 1, outputActivation: 'softmax' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NatgradError);
    const e = error as NatgradError;
    expect(e.message).toContain('--model cnn cannot take 3x3x1 images');
    expect(e.expected).toBe('images of at least 5x5 pixels for --model cnn');
    expect(e.received).toContain('3x3 pixels, 1 channel (layer logits would get no inputs)');
    expect(e.fix).toContain('--model mlp or --model resnet');
    expect(tf.memory().numTensors).toBe(before);
    const ok = buildModel('cnn', { inputShape: [5, 5, 1], numClasses: 10, seed: 1, outputActivation: 'softmax' });
    ok.dispose();
    expect(() => buildModel('mlp', { inputShape: [0, 0, 1], numClasses: 10, seed: 1, outputActivation: 'softmax' })).toThrow(/cannot take 0x0x1 images/);
  });
});

describe('memory estimate', () => {
  it('counts KFAC factors as (fanIn+1)^2 + fanOut^2 floats per layer', () => {
    const config = parseTrainFlags(['--model', 'mlp', '--width', '100', '--optimizer', 'kfac']).config;
    const withFactors = estimateTrainingMemory(config, [28, 28, 1], 10);
    const factors = (785 ** 2 + 100 ** 2) + (101 ** 2 + 50 ** 2) + (51 ** 2 + 10 ** 2);
    expect(withFactors.curvatureBytes).toBe(3 * 4 * factors);
    expect(withFactors.parameters).toBe(785 * 100 + 101 * 50 + 51 * 10);
    const sgd = estimateTrainingMemory({ ...config, optimizer: 'sgd', curvature: 'none', projection: 'identity' }, [28, 28, 1], 10);
    expect(sgd.curvatureBytes).toBe(0);
    expect(sgd.totalBytes).toBeLessThan(withFactors.totalBytes);
  });

  it('the default runs fit every backend with a known limit, also on a 2 GiB host', () => {
    for (const argv of [[], ['--dataset', 'cifar10'], ['--model', 'mlp'], ['--optimizer', 'adamw']]) {
      const config = parseTrainFlags(argv).config;
      const shape: [number, number, number] = config.dataset === 'cifar10' ? [32, 32, 3] : [28, 28, 1];
      for (const backend of ['wasm', 'cpu', 'tensorflow']) expect(() => checkTrainingMemory(config, shape, 10, backend, 2 * GIB)).not.toThrow();
    }
  });

  it('refuses --width 20000 on wasm before allocating, naming the flag, the limit, the estimate and a width that fits', () => {
    const before = tf.memory().numTensors;
    const e = flagErrorOf(() => parseTrainFlags(['--width', '20000', '--backend', 'wasm']));
    expect(e.problems[0].flag).toBe('width');
    expect(e.message).toContain('The run does not fit in the memory of the wasm backend');
    expect(e.message).toMatch(/--width: training would need about [\d.]+ GiB, more than the wasm backend can hold \(4\.0 GiB\)/);
    expect(e.expected).toContain('at most 4.0 GiB');
    expect(e.received).toContain('--model cnn --width 20000 --batch 128');
    expect(e.received).toContain('KFAC factors and inverses');
    const suggested = Number(/--width (\d+) or less/.exec(e.fix)?.[1]);
    expect(suggested).toBeGreaterThanOrEqual(2);
    expect(suggested).toBeLessThan(20000);
    // The suggestion is a setting the check accepts, and one more is not.
    expect(() => parseTrainFlags(['--width', String(suggested), '--backend', 'wasm'])).not.toThrow();
    expect(() => parseTrainFlags(['--width', String(suggested + 1), '--backend', 'wasm'])).toThrow(FlagError);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('names --batch when the activations are what does not fit', () => {
    const config = parseTrainFlags(['--dataset', 'cifar10', '--batch', '60000', '--optimizer', 'sgd']).config;
    const e = flagErrorOf(() => checkTrainingMemory(config, [32, 32, 3], 10, 'wasm'));
    expect(e.problems[0].flag).toBe('batch');
    expect(e.fix).toMatch(/^pass --batch \d+ or less/);
  });

  it('uses half of host memory on cpu and tensorflow, and no limit where it cannot know one', () => {
    expect(backendMemoryLimit('wasm')?.bytes).toBe(4 * GIB);
    expect(backendMemoryLimit('cpu', 16 * GIB)?.bytes).toBe(8 * GIB);
    expect(backendMemoryLimit('webgpu')).toBeNull();
    const config = parseTrainFlags(['--model', 'mlp', '--width', '20000']).config;
    expect(checkTrainingMemory(config, [28, 28, 1], 10, 'webgpu').totalBytes).toBeGreaterThan(4 * GIB);
    const e = flagErrorOf(() => checkTrainingMemory(config, [28, 28, 1], 10, 'cpu', 8 * GIB));
    expect(e.expected).toContain("half of this host's 8.0 GiB");
  });
});
