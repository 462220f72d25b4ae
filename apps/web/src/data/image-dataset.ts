/**
 * The in-memory image dataset the page trains on: raw pixel bytes and class labels, split into
 * train and test, exactly as the CLI's ImageDataset (apps/train/src/data/dataset.ts) but without
 * its Node imports. Bytes, not floats, so a copy to each training worker costs 8 MB for MNIST,
 * not 32; the worker scales to [0, 1] when it builds tensors.
 */
import { NatgradError } from '@natgrad/core';

export interface ImageSplit {
  /** count × height × width × channels bytes, example-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

export interface ImageDataset {
  name: string;
  height: number;
  width: number;
  channels: number;
  numClasses: number;
  train: ImageSplit;
  test: ImageSplit;
  /** Where the data came from, shown on the page. */
  source: string;
}

/** Checks sizes and label range, so a worker never builds tensors from inconsistent arrays. */
export function checkDataset(d: ImageDataset): ImageDataset {
  const pixels = d.height * d.width * d.channels;
  for (const [which, split] of [
    ['train', d.train],
    ['test', d.test],
  ] as const) {
    if (split.count < 1 || split.images.length !== split.count * pixels || split.labels.length !== split.count) {
      throw new NatgradError('DATASET_INVALID', `The ${which} split of ${d.name} is inconsistent.`, {
        expected: `count ≥ 1, ${pixels} bytes per image and one label per image`,
        received: `count ${split.count}, ${split.images.length} image bytes, ${split.labels.length} labels`,
        fix: 'pick matching image and label files (both train-* or both t10k-*)',
      });
    }
    const bad = split.labels.findIndex((l) => l >= d.numClasses);
    if (bad >= 0) {
      throw new NatgradError('DATASET_INVALID', `The ${which} labels of ${d.name} hold a class outside 0..${d.numClasses - 1}.`, {
        expected: `labels in 0..${d.numClasses - 1}`,
        received: `label ${split.labels[bad]} at index ${bad}`,
        fix: 'pick the labels file of the same dataset',
      });
    }
  }
  return d;
}
