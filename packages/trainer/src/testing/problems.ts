/**
 * Test fixtures (not exported): a seeded, linearly separable multi-class problem and a small MLP
 * with seeded initialisers, so two builds of the "same" model start from identical weights.
 */
import * as tf from '@tensorflow/tfjs';
import type { DampingObservation, DampingSchedule, StateDict } from '@natgrad/core';
import { Rng } from '../rng';

/**
 * Gaussian blobs around well separated class centres: separable by construction. The centres come
 * from `problem` (fixed by default), the samples from `seed`, so train and validation sets drawn
 * with different seeds are the same problem.
 */
export function blobs(options: { n: number; dims?: number; classes?: number; seed?: number; spread?: number; problem?: number }): { x: tf.Tensor2D; y: tf.Tensor2D; labels: number[] } {
  const dims = options.dims ?? 4;
  const classes = options.classes ?? 3;
  const spread = options.spread ?? 0.4;
  const normalFrom = (rng: Rng) => () => Math.sqrt(-2 * Math.log(1 - rng.nextFloat())) * Math.cos(2 * Math.PI * rng.nextFloat());
  const centreNormal = normalFrom(new Rng(options.problem ?? 100));
  const centres = Array.from({ length: classes }, () => Array.from({ length: dims }, () => 2 * centreNormal()));
  const normal = normalFrom(new Rng(options.seed ?? 1));
  const xs: number[] = [];
  const labels: number[] = [];
  for (let i = 0; i < options.n; i++) {
    const c = i % classes;
    labels.push(c);
    for (let d = 0; d < dims; d++) xs.push(centres[c][d] + spread * normal());
  }
  return tf.tidy(() => ({
    x: tf.tensor2d(xs, [options.n, dims]),
    y: tf.oneHot(tf.tensor1d(labels, 'int32'), classes).toFloat() as tf.Tensor2D,
    labels,
  }));
}

export function mlp(options: { dims?: number; hidden?: number; classes?: number; seed?: number; batchNorm?: boolean } = {}): tf.Sequential {
  const seed = options.seed ?? 7;
  const model = tf.sequential();
  model.add(
    tf.layers.dense({
      units: options.hidden ?? 16,
      inputShape: [options.dims ?? 4],
      activation: 'relu',
      kernelInitializer: tf.initializers.glorotUniform({ seed }),
    }),
  );
  if (options.batchNorm) model.add(tf.layers.batchNormalization());
  model.add(
    tf.layers.dense({
      units: options.classes ?? 3,
      activation: 'softmax',
      kernelInitializer: tf.initializers.glorotUniform({ seed: seed + 1 }),
    }),
  );
  return model;
}

/**
 * Bit patterns of every model weight (for exact-equality assertions), read in one awaited
 * transfer of all weights concatenated (WebGPU cannot read synchronously).
 */
export async function weightBits(model: tf.LayersModel): Promise<number[][]> {
  return (await weightValues(model)).map((w) => Array.from(new Uint32Array(w.buffer, w.byteOffset, w.length)));
}

/** Every model weight as a Float32Array, read in one awaited transfer. */
export async function weightValues(model: tf.LayersModel): Promise<Float32Array[]> {
  const weights = model.weights.map((w) => w.read());
  if (weights.length === 0) return [];
  const flat = tf.tidy(() => tf.concat(weights.map((w) => tf.cast(tf.reshape(w, [-1]), 'float32'))));
  try {
    const all = Float32Array.from(await flat.data());
    const out: Float32Array[] = [];
    let offset = 0;
    for (const w of weights) {
      out.push(all.subarray(offset, offset + w.size));
      offset += w.size;
    }
    return out;
  } finally {
    flat.dispose();
  }
}

/** A fixed-value damping schedule that records what the trainer told it (a test spy, not a product). */
export class RecordingDamping implements DampingSchedule {
  readonly name = 'recording';
  lambda: number;
  nonFinite: number[] = [];
  observations: DampingObservation[] = [];
  readonly adaptEvery?: number;

  constructor(lambda: number, adaptEvery?: number) {
    this.lambda = lambda;
    if (adaptEvery !== undefined) this.adaptEvery = adaptEvery;
  }

  value(): number {
    return this.lambda;
  }

  observe(o: DampingObservation): void {
    this.observations.push(o);
  }

  onNonFiniteStep(step: number): void {
    this.nonFinite.push(step);
    this.lambda *= 10;
  }

  getState(): StateDict {
    return { kind: 'recording', version: 1, values: { lambda: this.lambda }, tensors: {} };
  }

  setState(state: StateDict): void {
    this.lambda = state.values.lambda as number;
  }
}
