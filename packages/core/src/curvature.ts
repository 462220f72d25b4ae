/**
 * Curvature estimators: the Fisher (or an approximation of it) restricted to blocks of parameters.
 *
 * Design (after kfac-jax): an estimator owns its statistics (tf.Variables) and an inverse cache
 * refreshed on its own cadence; the damping is passed IN to the refresh, the estimator never owns
 * the damping policy. Projections only see the CurvatureView part.
 */
import type * as tf from '@tensorflow/tfjs-core';
import type { CurvatureBatch } from './capture';
import type { LayerInfo } from './layers';
import type { ParamMap } from './params';
import type { Stateful } from './state';

/** 'sampled': true Fisher, labels sampled from the model. 'empirical': the training labels. */
export type FisherType = 'sampled' | 'empirical';

/** One curvature block: the parameters (kernel, and bias when present) that share a factor pair. */
export interface CurvatureBlock {
  /** Layer name, or the variable name for per-parameter (diagonal) blocks. */
  name: string;
  params: readonly string[];
}

/**
 * What a projection strategy may use. precondition and multiply are device-only (no host read),
 * so they stay synchronous and can run inside a tf.tidy.
 */
export interface CurvatureView {
  readonly blocks: readonly CurvatureBlock[];
  /**
   * F^-1 g per block with the damping of the last refreshInverses(). Returns new tensors for the
   * block parameters present in `grads` (caller owns them); other keys are ignored.
   */
  precondition(grads: ParamMap): ParamMap;
  /** F v per block with the UNDAMPED statistics. Same ownership rules as precondition. */
  multiply(vectors: ParamMap): ParamMap;
  /**
   * Optional: starts multiply(vectors) and returns a function that finishes it, with the same
   * result. An estimator may compute the products elsewhere in between (KFAC with a statistics
   * worker computes them on the worker's thread), so a projection can overlap F v with its
   * preconditioning. Call the returned function exactly once; the tensors it returns are the
   * caller's. The statistics must not change between the two calls.
   */
  beginMultiply?(vectors: ParamMap): () => ParamMap;
}

export interface CurvatureRequirements {
  /** Whether updateStatistics needs layer captures (activations and output gradients). */
  captures: boolean;
  /** Which labels the statistics backward must use. */
  fisher: FisherType;
}

export interface MemoryReport {
  /** Bytes of statistics (factors, EMAs). */
  statistics: number;
  /** Bytes of cached inverses / eigenbases. */
  inverses: number;
  total: number;
  perBlock: Record<string, number>;
}

export interface CurvatureEstimator extends CurvatureView, Stateful {
  readonly name: string;
  readonly requires: CurvatureRequirements;
  /** Allocates statistics for the given layers (and, for per-parameter estimators, variables). */
  init(layers: readonly LayerInfo[], variables: Record<string, tf.Variable>): void;
  /**
   * Folds one batch into the running statistics. Does not touch the inverse cache. Asynchronous
   * because an estimator may read from the device (WebGPU cannot read synchronously); the batch's
   * tensors must stay alive until the promise settles.
   */
  updateStatistics(batch: CurvatureBatch): Promise<void>;
  /**
   * Recomputes the inverse cache from the current statistics at the given damping. Asynchronous:
   * the linear algebra reads summaries (or, on the host paths, the factors) from the device.
   */
  refreshInverses(damping: number): Promise<void>;
  /**
   * Optional step-size control applied after preconditioning (e.g. kfac-pytorch's KL clipping).
   * Resolves to the factor the directions were scaled by (1 when inactive).
   */
  scaleUpdate?(directions: ParamMap, grads: ParamMap, learningRate: number): Promise<number>;
  /**
   * Optional: the damping of an inverse cache that setState() could not rebuild synchronously (a
   * rebuild needs device reads), or null when the cache is ready. Whoever restores a state awaits
   * refreshInverses(pendingRefresh) before the next precondition().
   */
  readonly pendingRefresh?: number | null;
  memory(): MemoryReport;
  dispose(): void;
}
