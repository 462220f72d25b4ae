/**
 * A loss the trainer can differentiate and, for the true ("sampled") Fisher, sample targets for
 * from the model's predictive distribution.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface LossFunction {
  readonly name: string;
  /** Mean loss over the batch: a scalar. */
  compute(targets: tf.Tensor, predictions: tf.Tensor): tf.Scalar;
  /**
   * Targets drawn from the model's predictive distribution p(y | x) given the predictions
   * (one-hot for categorical outputs), used for the sampled Fisher. Absent for losses whose
   * predictive distribution is not defined; estimators then require the empirical Fisher.
   */
  sampleTargets?(predictions: tf.Tensor, seed: number): tf.Tensor;
}
