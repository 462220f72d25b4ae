/**
 * What the trainer's layer capture hands to a curvature estimator for each registered layer:
 * the layer's input activations and the gradient of the loss with respect to the layer's
 * pre-activation output, both from the same forward/backward pass.
 */
import type * as tf from '@tensorflow/tfjs-core';

export interface LayerCapture {
  /**
   * Input activations: Dense [batch, inputSize] (leading dims flattened into batch);
   * Conv2D [batch, height, width, inChannels] (before padding).
   */
  input: tf.Tensor;
  /**
   * d(loss)/d(pre-activation) where loss is the MEAN over the batch:
   * Dense [batch, outputSize]; Conv2D [batch, outHeight, outWidth, outChannels].
   * The per-example gradient is therefore batchSize * outputGrad[n].
   */
  outputGrad: tf.Tensor;
  /**
   * Optional, Dense only: the 2-D input rows transposed, [inputSize, rows]. A capture may hand it
   * over when its backward formed it anyway (dW = inputᵀ·dy), so that an estimator needs no second
   * transpose for its input-side statistics (A = inputᵀ·input). Owned like input.
   */
  inputTransposed?: tf.Tensor;
  /**
   * Optional, Dense only: outputGrad's 2-D rows transposed, [outputSize, rows], same scaling as
   * outputGrad; handed over when the backward formed it anyway (the bias gradient's row sum).
   * Owned like outputGrad.
   */
  outputGradTransposed?: tf.Tensor;
}

/** The statistics input of one curvature step. Tensors stay owned by the caller. */
export interface CurvatureBatch {
  /** Captures keyed by layer name; present for every registered layer when the estimator needs them. */
  captures: Record<string, LayerCapture>;
  /** Mean mini-batch gradients of the training loss (used by gradient-based estimators). */
  grads: Record<string, tf.Tensor>;
  /** Number of examples the captures were computed on. */
  batchSize: number;
}
