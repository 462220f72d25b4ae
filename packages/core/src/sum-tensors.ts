/**
 * Sums of many tensors that stay correct on WebGPU.
 *
 * Why not tf.addN: tfjs-backend-webgpu binds every input of an addN to one shader stage, and
 * WebGPU's default limit is 8 storage buffers per stage (7 inputs plus the output). With 8 or more
 * inputs Dawn rejects the pipeline, only prints a validation error, and the op returns whatever
 * the output buffer held (measured: the Levenberg–Marquardt ratio came out +Infinity). This adds
 * in chunks of at most ADD_N_MAX_INPUTS, which is the same op sequence as addN for short lists.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from './errors';

/** Inputs per addN call that fit WebGPU's default 8 storage buffers per shader stage. */
export const ADD_N_MAX_INPUTS = 7;

/**
 * The elementwise sum of `tensors` (same shape and dtype), as one new tensor the caller owns. The
 * inputs stay the caller's. One input gives a copy, so the result can always be disposed.
 */
export function sumTensors<T extends tf.Tensor>(tensors: readonly T[]): T {
  if (tensors.length === 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'sumTensors needs at least one tensor', {
      expected: 'a non-empty array of tensors of one shape',
      received: 'an empty array',
      fix: 'skip the sum, or start from tf.zeros(shape)',
    });
  }
  return tf.tidy(() => {
    let pending: tf.Tensor[] = [...tensors];
    if (pending.length === 1) return tf.clone(pending[0]) as T;
    while (pending.length > 1) {
      const next: tf.Tensor[] = [];
      for (let i = 0; i < pending.length; i += ADD_N_MAX_INPUTS) {
        const chunk = pending.slice(i, i + ADD_N_MAX_INPUTS);
        next.push(chunk.length === 1 ? chunk[0] : tf.addN(chunk));
      }
      pending = next;
    }
    return pending[0] as T;
  });
}
