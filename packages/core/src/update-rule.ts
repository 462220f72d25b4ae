/**
 * Update rules turn a step direction into a parameter change (SGD with momentum, AdamW, ...).
 * Like tfjs-core optimizers they keep long-lived state in tf.Variables, updated inside tidy and
 * released by dispose().
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { ParamMap } from './params';
import type { Stateful } from './state';

export interface UpdateRule extends Stateful {
  readonly name: string;
  /** Allocates per-variable state. */
  init(variables: Record<string, tf.Variable>): void;
  /** Updates the variables in place from the directions (which stay owned by the caller). */
  apply(directions: ParamMap, learningRate: number): void;
  dispose(): void;
}
