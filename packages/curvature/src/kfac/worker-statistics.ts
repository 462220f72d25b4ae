/**
 * KFAC's statistics on a StatisticsWorker (@natgrad/core): the Gram products of factors.ts run on
 * another thread while the main thread trains. The estimator's tf.Variables stay the source of
 * truth for everything else (inverses, F·v, checkpoints): pullFactors() copies the worker's
 * averages into them when they are needed, pushFactors() copies them back after a restore.
 *
 * The worker runs the op sequence of batchFactors(), including the kernel-order gather of Conv2D A
 * factors (sent as the term's permutation), so its averages are the variables' values bit for bit
 * (tested) and A·W·G can be computed there for every block.
 *
 * Host-only by design: a worker copies tensors to and from the host synchronously (accumulate,
 * pushFactors), which only backends with host storage allow. requireHostBackend() refuses the
 * worker everywhere else, so these synchronous copies never run on WebGPU.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type GramTerm, type LayerCapture, type LayerInfo, NatgradError, type StatisticsWorker } from '@natgrad/core';

/** Backends whose tensors live in host memory, so that a statistics worker can copy them synchronously. */
export const HOST_BACKENDS: readonly string[] = ['cpu', 'wasm'];

/**
 * Refuses a statistics worker unless the current backend keeps tensors on the host. `backend` is
 * the current tfjs backend name (null before any is chosen: the caller checks again later).
 */
export function requireHostBackend(what: string, backend: string | null): void {
  if (backend === null || HOST_BACKENDS.includes(backend)) return;
  throw new NatgradError('UNSUPPORTED_BACKEND', `${what}: a statistics worker needs a backend with host storage.`, {
    expected: `the ${HOST_BACKENDS.map((b) => `'${b}'`).join(' or ')} backend with statisticsWorker (it copies every capture to the host, synchronously)`,
    received: `backend '${backend}'`,
    fix: 'drop statisticsWorker on this backend: a GPU computes the Gram products on the device in parallel, so a worker would only add host copies',
  });
}
import { hasKernelPermutation, inputRows, kernelOrderIndex, outputRows } from './factors';

export interface WorkerSlot {
  layer: LayerInfo;
  a: tf.Variable;
  g: tf.Variable;
  /** The worker's keys of this slot's A and G averages. */
  keys: { a: string; g: string };
}

let instances = 0;

/** Keys unique to one estimator instance (several estimators may share a worker). */
export function workerKeys(layer: LayerInfo): { a: string; g: string } {
  const prefix = `kfac#${++instances}/${layer.name}`;
  return { a: `${prefix}/A`, g: `${prefix}/G` };
}

/**
 * The two Gram terms of one layer's batch factors (batchFactors() in factors.ts). Each term's `rows`
 * is a new tensor the caller disposes (nothing else is allocated); the transposes, when present,
 * are the capture's own.
 */
export function gramTerms(slot: WorkerSlot, capture: LayerCapture, batchSize: number): GramTerm[] {
  const { layer, keys } = slot;
  const dense = layer.kind === 'dense';
  const rows = inputRows(layer, capture.input);
  const grads = outputRows(layer, capture.outputGrad);
  return [
    {
      key: keys.a,
      rows,
      rowsTransposed: dense ? (capture.inputTransposed as tf.Tensor2D | undefined) : undefined,
      augment: layer.bias !== null,
      scale: { divide: rows.shape[0] },
      permutation: hasKernelPermutation(layer) ? kernelOrderIndex(layer, slot.a.shape[0]) : undefined,
    },
    {
      key: keys.g,
      rows: grads,
      rowsTransposed: dense ? (capture.outputGradTransposed as tf.Tensor2D | undefined) : undefined,
      augment: false,
      scale: { multiply: batchSize },
    },
  ];
}

/** Copies the worker's averages into the slots' variables (waits for pending batches). */
export function pullFactors(worker: StatisticsWorker, slots: readonly WorkerSlot[]): void {
  const values = worker.read(slots.flatMap((s) => [s.keys.a, s.keys.g]));
  for (const s of slots) {
    tf.tidy(() => {
      s.a.assign(tf.tensor2d(values[s.keys.a], s.a.shape as [number, number]));
      s.g.assign(tf.tensor2d(values[s.keys.g], s.g.shape as [number, number]));
    });
  }
}

/**
 * Copies the slots' variables into the worker (the inverse of pullFactors). Synchronous reads on
 * purpose: a worker only runs on host backends (requireHostBackend), where they are plain copies.
 */
export function pushFactors(worker: StatisticsWorker, slots: readonly WorkerSlot[]): void {
  const values: Record<string, Float32Array> = {};
  for (const s of slots) {
    values[s.keys.a] = new Float32Array(s.a.dataSync());
    values[s.keys.g] = new Float32Array(s.g.dataSync());
  }
  worker.write(values);
}
