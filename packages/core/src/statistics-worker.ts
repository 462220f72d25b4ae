/**
 * Curvature statistics computed on another thread.
 *
 * Why: tfjs's wasm backend runs single-threaded in Node, so on a multi-core CPU every core but one
 * idles while a KFAC step spends as many flops on its Kronecker factors (Gram products XᵀX of the
 * layer inputs and output gradients) as on the forward and backward pass. A statistics worker
 * folds those Gram products into running averages on a second thread, while the main thread goes
 * on with the next step; an estimator waits for it only when it needs the factors (an inverse
 * refresh, F·v, a checkpoint). The contract is about values, not threads: an implementation that
 * computes with the same backend and the same op sequence as the estimator's own code gives
 * bit-identical statistics (@natgrad/backends' createStatisticsWorker does, on wasm and cpu).
 *
 * The calls are synchronous and copy tensors to the host synchronously, which only backends with
 * host-side storage allow (wasm, cpu). That is also the only place a worker pays: on a GPU backend
 * the device already computes the products in parallel, and copying every capture to the host per
 * step would cost more than it saves. Estimators refuse a worker on other backends.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** How a Gram product is normalised before it enters the average: S += (1-d)·(XᵀX / n) or (XᵀX · n). */
export type GramScale = { divide: number } | { multiply: number };

/** One Gram product XᵀX to fold into the running average stored under `key`. */
export interface GramTerm {
  key: string;
  /** The rows X, [rows, columns]. Read before accumulate() returns; the caller keeps ownership. */
  rows: tf.Tensor2D;
  /** Xᵀ, [columns, rows], when the caller already has it (saves the worker a transpose). */
  rowsTransposed?: tf.Tensor2D;
  /** Append a column of ones to X (the bias augmentation of KFAC's A factor). */
  augment: boolean;
  scale: GramScale;
  /**
   * Reorders the rows and columns of the scaled product before it enters the average: entry
   * (i, j) becomes (permutation[i], permutation[j]) of the product (a gather on both axes; KFAC's
   * channel-major to kernel order for Conv2D patches). Omitted: no reordering.
   */
  permutation?: readonly number[];
}

/** One Kronecker product A·V·G of two averages (A under aKey, G under gKey) with a matrix V. */
export interface KroneckerProductRequest {
  aKey: string;
  gKey: string;
  /** V, [size of A, size of G]. Read before multiply() returns; the caller keeps ownership. */
  vector: tf.Tensor2D;
}

/**
 * Keyed exponential moving averages S ← decay·S + (1 − decay)·scale(XᵀX), kept by a worker.
 * Calls are applied in the order they are made. Keys are global to the worker: an estimator
 * prefixes its own (several estimators may share one worker).
 */
export interface StatisticsWorker {
  /** The tfjs backend the worker computes on ('wasm', 'cpu'). */
  readonly backend: string;
  /** Creates (or resets) zero accumulators of shape [size, size]. */
  allocate(sizes: Record<string, number>): void;
  /**
   * Reads the terms' tensors synchronously, then folds their Gram products into the averages in
   * the background: returns before the products are computed.
   */
  accumulate(terms: readonly GramTerm[], decay: number): void;
  /** Waits for every earlier call, then returns copies of the averages (row-major, size x size). */
  read(keys: readonly string[]): Record<string, Float32Array>;
  /**
   * Starts A·V·G for each request with the averages as of every earlier call (raw averages, no
   * debiasing) and returns a function that waits for the products (row-major, request order).
   * The main thread may work in between; call the function exactly once.
   */
  multiply(requests: readonly KroneckerProductRequest[]): () => Float32Array[];
  /** Overwrites averages (e.g. from a checkpoint); each value has size x size entries. */
  write(values: Record<string, Float32Array>): void;
  /** Frees accumulators. Unknown keys are ignored; after terminate() this does nothing. */
  release(keys: readonly string[]): void;
  /** Stops the thread. Every later call except release() throws. */
  terminate(): Promise<void>;
}
