/**
 * Model lookup by the --model flag. Defaults follow the dataset: the CNN for the 28x28 digit
 * sets, the ResNet for CIFAR-10.
 */
import { NatgradError } from '@natgrad/core';
import type * as tf from '@tensorflow/tfjs';
import { buildCnn } from './cnn';
import { buildMlp } from './mlp';
import { layerShapes } from './layer-shapes';
import type { ModelOptions } from './model-options';
import { buildResnet } from './resnet';

export const MODELS = ['mlp', 'cnn', 'resnet'] as const;
export type ModelName = (typeof MODELS)[number];
export type { ModelOptions } from './model-options';

const BUILDERS: Record<ModelName, (opts: ModelOptions) => tf.LayersModel> = {
  mlp: buildMlp,
  cnn: buildCnn,
  resnet: buildResnet,
};

/**
 * Builds the model, after checking that the images are large enough for it: the CNN's two
 * stride-2 convolutions and 2x2 pooling leave no pixels of an image smaller than 5x5, which would
 * otherwise fail inside the curvature estimator with a zero-sized factor.
 */
export function buildModel(name: ModelName, opts: ModelOptions): tf.LayersModel {
  const [h, w, c] = opts.inputShape;
  const empty = layerShapes(name, opts).find((l) => l.fanIn < 1 || l.fanOut < 1 || l.positions < 1);
  if (!(h >= 1 && w >= 1 && c >= 1) || empty !== undefined) {
    const minimum = smallestSide(name, opts);
    throw new NatgradError('DATASET_INVALID', `--model ${name} cannot take ${h}x${w}x${c} images.`, {
      expected: minimum === null ? 'images of at least 1x1 pixels' : `images of at least ${minimum}x${minimum} pixels for --model ${name}`,
      received: `${h}x${w} pixels, ${c} channel${c === 1 ? '' : 's'}${empty ? ` (layer ${empty.name} would get no inputs)` : ''}`,
      fix: name === 'cnn' ? 'use --model mlp or --model resnet, which take images of any size, or a dataset with larger images' : 'check the dataset files (--data-dir): their images have no pixels',
    });
  }
  return BUILDERS[name](opts);
}

/** The smallest square image every layer of the model gets inputs from (null: any image of 1x1 or more). */
function smallestSide(name: ModelName, opts: ModelOptions): number | null {
  for (let side = 1; side <= 64; side++) {
    if (layerShapes(name, { ...opts, inputShape: [side, side, Math.max(1, opts.inputShape[2])] }).every((l) => l.fanIn >= 1 && l.positions >= 1)) return side === 1 ? null : side;
  }
  return null;
}

export function countParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
