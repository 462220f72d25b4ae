/**
 * Maps what a user writes for a loss (a tfjs-style name, a natgrad LossFunction, or a plain tfjs
 * loss function) to a LossFunction. Names follow tfjs-layers ('categoricalCrossentropy', ...). For
 * the cross-entropies the form of the predictions (probabilities or logits) is taken from
 * `fromLogits` when given, otherwise from the output layer's activation: 'softmax' -> probabilities,
 * 'linear' -> logits; any other output activation is refused because no categorical distribution
 * is defined by it. A plain function (yTrue, yPred) => per-example losses has no predictive
 * distribution, so it supports the empirical Fisher only (no sampleTargets).
 */
import * as tf from '../tf';
import { NatgradError, describeValue } from '@natgrad/core';
import type { LossFunction } from '@natgrad/core';
import { categoricalCrossentropy } from './categorical';
import { meanSquaredError } from './mean-squared-error';
import { sparseCategoricalCrossentropy } from './sparse-categorical';

export type LossName = 'categoricalCrossentropy' | 'sparseCategoricalCrossentropy' | 'meanSquaredError' | 'mse';

/** A tfjs-style loss: per-example (or already reduced) losses; natgrad takes their mean. */
export type TfjsLossFn = (yTrue: tf.Tensor, yPred: tf.Tensor) => tf.Tensor;

export interface ResolveLossOptions {
  /** Cross-entropies only: the predictions are logits. Overrides `outputActivation`. */
  fromLogits?: boolean;
  /** Activation of the model's output layer (ModelCapture.outputActivation), e.g. 'softmax'. */
  outputActivation?: string | null;
}

export const SUPPORTED_LOSSES: readonly LossName[] = [
  'categoricalCrossentropy',
  'sparseCategoricalCrossentropy',
  'meanSquaredError',
  'mse',
];

function isLossFunction(value: unknown): value is LossFunction {
  return (
    typeof value === 'object' &&
    value !== null &&
    typeof (value as LossFunction).compute === 'function' &&
    typeof (value as LossFunction).name === 'string'
  );
}

function crossEntropyFromLogits(name: string, options: ResolveLossOptions): boolean {
  if (options.fromLogits !== undefined) return options.fromLogits;
  const act = options.outputActivation;
  if (act === undefined || act === null || act === 'softmax') return false;
  if (act === 'linear') return true;
  throw new NatgradError('UNSUPPORTED_LOSS', `${name} does not fit the model's output activation.`, {
    expected: "an output layer with activation 'softmax' (probabilities) or 'linear' (logits)",
    received: `output activation ${JSON.stringify(act)}`,
    fix: "use activation 'softmax' or 'linear' on the last layer, or pass { fromLogits } explicitly",
  });
}

export function resolveLoss(nameOrFn: LossName | string | LossFunction | TfjsLossFn, options: ResolveLossOptions = {}): LossFunction {
  if (isLossFunction(nameOrFn)) return nameOrFn;
  if (typeof nameOrFn === 'function') {
    const fn = nameOrFn;
    const label = fn.name && fn.name.length > 0 ? fn.name : 'customLoss';
    return {
      name: label,
      compute: (targets, predictions) => tf.tidy(() => tf.mean(fn(targets, predictions)) as tf.Scalar),
    };
  }
  switch (nameOrFn) {
    case 'categoricalCrossentropy':
      return categoricalCrossentropy({ fromLogits: crossEntropyFromLogits(nameOrFn, options) });
    case 'sparseCategoricalCrossentropy':
      return sparseCategoricalCrossentropy({ fromLogits: crossEntropyFromLogits(nameOrFn, options) });
    case 'meanSquaredError':
    case 'mse':
      return meanSquaredError();
    default:
      throw new NatgradError('UNSUPPORTED_LOSS', 'Unknown or unsupported loss.', {
        expected: `one of ${SUPPORTED_LOSSES.map((n) => `'${n}'`).join(', ')}, a LossFunction, or a function (yTrue, yPred) => tensor`,
        received: describeValue(nameOrFn),
        fix: 'use a supported name, or pass your own LossFunction (add sampleTargets to allow the sampled Fisher)',
      });
  }
}
