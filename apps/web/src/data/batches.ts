/**
 * Host-side batching: the examples of a batch gathered from the dataset's bytes into float32
 * pixels in [0, 1] and one-hot labels, ready for tf.tensor. Building each batch on the host keeps
 * the device holding one batch, not the whole training set (Fashion-MNIST's 60,000 images would be
 * 188 MB of float32 textures on WebGL), and the shuffle is a seeded permutation per epoch so two
 * runs with one seed see the same batches in the same order.
 */
import type { ImageSplit } from './image-dataset';

export interface HostBatch {
  pixels: Float32Array;
  oneHot: Float32Array;
  size: number;
}

export function gatherBatch(split: ImageSplit, indices: ArrayLike<number>, pixelsPerImage: number, classes: number): HostBatch {
  const size = indices.length;
  const pixels = new Float32Array(size * pixelsPerImage);
  const oneHot = new Float32Array(size * classes);
  for (let b = 0; b < size; b++) {
    const i = indices[b];
    const base = i * pixelsPerImage;
    for (let p = 0; p < pixelsPerImage; p++) pixels[b * pixelsPerImage + p] = split.images[base + p] / 255;
    oneHot[b * classes + split.labels[i]] = 1;
  }
  return { pixels, oneHot, size };
}

/**
 * The example indices of every step: full batches of a permutation per epoch (a partial last
 * batch is dropped, as FOP splits each batch in equal halves), the next epoch drawn when one runs out.
 */
export class BatchOrder {
  private order: Int32Array = new Int32Array(0);
  private next = 0;
  epoch = -1;

  constructor(
    private readonly count: number,
    private readonly batchSize: number,
    private readonly permutation: (n: number) => Int32Array,
  ) {}

  take(): Int32Array {
    if (this.next + this.batchSize > this.order.length) {
      this.order = this.permutation(this.count);
      this.next = 0;
      this.epoch += 1;
    }
    const batch = this.order.subarray(this.next, this.next + this.batchSize);
    this.next += this.batchSize;
    return batch;
  }
}
