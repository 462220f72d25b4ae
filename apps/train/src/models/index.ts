/**
 * Model lookup by the --model flag. Defaults follow the dataset: the CNN for the 28x28 digit
 * sets, the ResNet for CIFAR-10.
 */
import type * as tf from '@tensorflow/tfjs';
import { buildCnn } from './cnn';
import { buildMlp } from './mlp';
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

export function buildModel(name: ModelName, opts: ModelOptions): tf.LayersModel {
  return BUILDERS[name](opts);
}

export function countParams(model: tf.LayersModel): number {
  return model.trainableWeights.reduce((n, w) => n + w.shape.reduce((a: number, b) => a * (b ?? 1), 1), 0);
}
