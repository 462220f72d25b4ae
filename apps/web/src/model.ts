/**
 * The page's model: the CLI's two-hidden-layer perceptron (apps/train/src/models/mlp.ts), Dense
 * layers only so every optimizer of the page (KFAC, FOP and the diagonal Fisher included) supports
 * it and FOP reports diagnostics for three layers. Seeded initialisers, so two runs side by side
 * (or a backend and the cpu reference in the e2e tier) start from the same weights.
 */
import * as tf from '@tensorflow/tfjs-core';
import * as tfl from '@tensorflow/tfjs-layers';
import type { ModelShape } from './metrics/parity';

export interface ModelOptions {
  inputShape: [number, number, number];
  classes: number;
  /** Units of the first hidden layer; the second has half (rounded up). */
  hidden: number;
  seed: number;
}

export function buildModel(o: ModelOptions): tfl.LayersModel {
  const model = tfl.sequential({ name: 'mlp' });
  model.add(tfl.layers.flatten({ inputShape: o.inputShape, name: 'flatten' }));
  model.add(tfl.layers.dense({ units: o.hidden, activation: 'relu', name: 'dense1', kernelInitializer: tfl.initializers.heNormal({ seed: o.seed }) }));
  model.add(tfl.layers.dense({ units: Math.ceil(o.hidden / 2), activation: 'relu', name: 'dense2', kernelInitializer: tfl.initializers.heNormal({ seed: o.seed + 1 }) }));
  model.add(tfl.layers.dense({ units: o.classes, activation: 'softmax', name: 'logits', kernelInitializer: tfl.initializers.glorotUniform({ seed: o.seed + 2 }) }));
  return model;
}

/** The sizes the parity bound needs (metrics/parity.ts). */
export function modelShape(model: tfl.LayersModel): ModelShape {
  let fanInSum = 0;
  let classes = 0;
  for (const layer of model.layers) {
    if (layer.getClassName() !== 'Dense') continue;
    const kernel = layer.getWeights()[0];
    fanInSum += (kernel.shape[0] as number) + 1;
    classes = kernel.shape[1] as number;
  }
  const parameters = model.trainableWeights.reduce((n, w) => n + tf.util.sizeFromShape(w.shape as number[]), 0);
  return { fanInSum, classes, parameters };
}
