/**
 * tf.data's Dataset as the trainer sees it: something whose iterator() yields batches. tfjs-layers
 * takes the same view (its engine/dataset_stub.ts) so that fitDataset works without a dependency on
 * @tensorflow/tfjs-data; a real tf.data.Dataset is one, and so is any object of that shape.
 */
import type { TensorContainer } from '@tensorflow/tfjs-core';

export interface LazyIterator<T> {
  next(): Promise<IteratorResult<T>>;
}

export interface Dataset<T = TensorContainer> {
  iterator(): Promise<LazyIterator<T>>;
}

/** `x instanceof tf.data.Dataset` by shape: a class check would need tfjs-data's own class. */
export const Dataset = {
  [Symbol.hasInstance](value: unknown): value is Dataset<TensorContainer> {
    return (
      typeof value === 'object' && value !== null && typeof (value as { iterator?: unknown }).iterator === 'function'
    );
  },
};
