/**
 * Gradient-norm clipping by the global L2 norm (Pascanu et al. 2013). The trainer clips the
 * sub-batch gradients with ONE factor computed from the norm of their mean, min(1, maxNorm/||g_avg||):
 * a common scale leaves every scale-invariant quantity of FOP (s, beta*, eta*; arXiv 2508.13898
 * eqs. for steps 3, 5 and 7) unchanged, so clipping shrinks the step without bending its direction.
 * The norm stays on the device; the trainer reads it together with the loss in its one host read.
 */
import * as tf from './tf';
import { NatgradError, type ParamMap, describeValue, sumTensors } from '@natgrad/core';

/**
 * Global L2 norm of a parameter map, as a device scalar (caller owns it). The squares are summed
 * with sumTensors, not tf.addN: a model has 8+ parameter tensors as soon as it has 4 layers, and
 * WebGPU's addN returns garbage from 8 inputs on.
 */
export function globalNorm(map: ParamMap): tf.Scalar {
  return tf.tidy(() => {
    const parts = Object.values(map).map((t) => tf.sum(tf.square(t)));
    if (parts.length === 0) return tf.scalar(0);
    return tf.sqrt(sumTensors(parts)) as tf.Scalar;
  });
}

export function validateMaxNorm(maxNorm: unknown): number {
  if (typeof maxNorm !== 'number' || !(maxNorm > 0) || !Number.isFinite(maxNorm)) {
    throw new NatgradError('INVALID_ARGUMENT', 'Invalid gradient clipping norm.', {
      expected: 'a finite number > 0 (or null to disable clipping)',
      received: describeValue(maxNorm),
      fix: 'pass clipNorm such as 1.0',
    });
  }
  return maxNorm;
}

/**
 * The mean gradient before clipping, from the clipped one and the pre-clipping norm: the inverse of
 * the common factor, max(norm, maxNorm) / maxNorm. A quadratic model of the loss (the
 * Levenberg-Marquardt q(delta)) needs the loss' true gradient, not the shortened one. New tensors.
 */
export function unclip(clipped: ParamMap, norm: tf.Scalar, maxNorm: number): ParamMap {
  return tf.tidy(() => {
    const scale = tf.div(tf.maximum(norm, tf.scalar(maxNorm)), tf.scalar(maxNorm));
    const out: ParamMap = {};
    for (const [name, t] of Object.entries(clipped)) out[name] = tf.mul(t, scale);
    return out;
  });
}

/**
 * Scales every map in `maps` by min(1, maxNorm / ||mean of maps||). Returns new maps (caller owns
 * them) and the pre-clipping norm of the mean. Inputs stay owned by the caller.
 */
export function clipByMeanNorm(maps: readonly ParamMap[], maxNorm: number): { clipped: ParamMap[]; norm: tf.Scalar } {
  validateMaxNorm(maxNorm);
  if (maps.length === 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'Nothing to clip.', {
      expected: 'at least one gradient map',
      received: 'an empty list',
      fix: 'pass the sub-batch gradients',
    });
  }
  return tf.tidy(() => {
    const names = Object.keys(maps[0]);
    const mean: ParamMap = {};
    for (const name of names) mean[name] = tf.div(sumTensors(maps.map((m) => m[name])), tf.scalar(maps.length));
    const norm = globalNorm(mean);
    // maxNorm / max(norm, maxNorm) = min(1, maxNorm / norm) without dividing by a zero norm.
    const factor = tf.div(tf.scalar(maxNorm), tf.maximum(norm, tf.scalar(maxNorm)));
    const clipped = maps.map((m) => {
      const out: ParamMap = {};
      for (const name of names) out[name] = tf.mul(m[name], factor);
      return out;
    });
    return { clipped, norm };
  });
}
