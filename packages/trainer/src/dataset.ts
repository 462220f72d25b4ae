/**
 * Training input for fit(): tensors (x, y) batched here with seeded shuffling, or a tf.data.Dataset
 * whose elements are {xs, ys} (the tfjs-layers convention) or [x, y]. A projection needs each batch
 * split into `multiple` equal sub-batches, so a last partial batch is trimmed to a multiple of it;
 * the trimmed examples are reported in the logs (`droppedExamples`), never silently lost from view,
 * and with shuffling they are seen in other epochs.
 */
import * as tf from './tf';
import { NatgradError, describeValue } from '@natgrad/core';
import type { Rng } from './rng';

export interface Batch {
  x: tf.Tensor;
  y: tf.Tensor;
  /** Examples of this batch that were trimmed away to make it divisible by the sub-batch count. */
  dropped: number;
}

export function checkXY(x: unknown, y: unknown, what: string): void {
  if (!(x instanceof tf.Tensor) || !(y instanceof tf.Tensor)) {
    throw new NatgradError('DATASET_INVALID', `${what}: inputs and targets must be tensors.`, {
      expected: 'x and y as tf.Tensor',
      received: `x ${describeValue(x)}, y ${describeValue(y)}`,
      fix: 'convert arrays with tf.tensor(...) first, or pass a tf.data.Dataset to fitDataset()',
    });
  }
  if (x.shape.length === 0 || y.shape.length === 0 || x.shape[0] !== y.shape[0]) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: x and y hold different numbers of examples.`, {
      expected: 'the same leading (batch) dimension for x and y',
      received: `x [${x.shape.join(',')}], y [${y.shape.join(',')}]`,
      fix: 'pass targets with one row per input example',
    });
  }
}

/** Trims a batch to a multiple of `multiple` examples (returns new tensors; inputs untouched). */
export function trimBatch(x: tf.Tensor, y: tf.Tensor, multiple: number): Batch {
  const n = x.shape[0];
  const keep = n - (n % multiple);
  if (keep === n) return { x: tf.clone(x), y: tf.clone(y), dropped: 0 };
  return { x: tf.slice(x, 0, keep), y: tf.slice(y, 0, keep), dropped: n - keep };
}

/**
 * This rank's contiguous part `rank` of `size` equal parts of a global batch (distributed training:
 * every rank iterates the same global batches and trains on its own part). The global batch has
 * been trimmed to a multiple of `size`; it is disposed and the shard returned in its place.
 */
export function shardBatch(batch: Batch, rank: number, size: number): Batch {
  const n = batch.x.shape[0];
  const m = n / size;
  try {
    return { x: tf.slice(batch.x, rank * m, m), y: tf.slice(batch.y, rank * m, m), dropped: batch.dropped };
  } finally {
    tf.dispose([batch.x, batch.y]);
  }
}

/** Batches of (x, y) in a seeded random (or the given) order. The caller disposes each batch. */
export function* tensorBatches(x: tf.Tensor, y: tf.Tensor, batchSize: number, multiple: number, rng: Rng | null): Generator<Batch> {
  const n = x.shape[0];
  const order = rng === null ? null : rng.permutation(n);
  for (let start = 0; start < n; start += batchSize) {
    const end = Math.min(start + batchSize, n);
    const size = end - start - ((end - start) % multiple);
    if (size === 0) {
      yield { x: tf.slice(x, 0, 0), y: tf.slice(y, 0, 0), dropped: end - start };
      continue;
    }
    if (order === null) {
      yield { x: tf.slice(x, start, size), y: tf.slice(y, start, size), dropped: end - start - size };
    } else {
      const idx = tf.tensor1d(order.subarray(start, start + size), 'int32');
      const batch = { x: tf.gather(x, idx), y: tf.gather(y, idx), dropped: end - start - size };
      idx.dispose();
      yield batch;
    }
  }
}

/** Extracts (x, y) from a dataset element; the element's tensors stay owned by the caller. */
export function elementXY(element: unknown): { x: tf.Tensor; y: tf.Tensor } {
  if (Array.isArray(element) && element.length === 2) {
    checkXY(element[0], element[1], 'dataset element');
    return { x: element[0], y: element[1] };
  }
  if (element !== null && typeof element === 'object' && 'xs' in element && 'ys' in element) {
    const { xs, ys } = element as { xs: unknown; ys: unknown };
    checkXY(xs, ys, 'dataset element');
    return { x: xs as tf.Tensor, y: ys as tf.Tensor };
  }
  throw new NatgradError('DATASET_INVALID', 'Dataset element has an unsupported structure.', {
    expected: 'elements {xs: tf.Tensor, ys: tf.Tensor} or [x, y] (batched, e.g. dataset.batch(64))',
    received: describeValue(element),
    fix: 'map the dataset to {xs, ys} and batch it before fitDataset()',
  });
}

/** Disposes every tensor of a dataset element (any nesting). */
export function disposeElement(element: unknown): void {
  if (element instanceof tf.Tensor) element.dispose();
  else if (Array.isArray(element)) element.forEach(disposeElement);
  else if (element !== null && typeof element === 'object') Object.values(element).forEach(disposeElement);
}
