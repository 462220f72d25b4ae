/**
 * Checks on the ParamMaps that enter precondition / multiply / scaleUpdate. They are host-side
 * shape checks only (no device reads), so they cost nothing on the step path but turn a wrong key
 * or a transposed kernel into an error that names the parameter instead of a garbage direction.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { NatgradError, type ParamMap, describeValue } from '@natgrad/core';

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function checkParamShape(owner: string, name: string, tensor: tf.Tensor, shape: readonly number[]): void {
  if (tensor === null || typeof tensor !== 'object' || !Array.isArray((tensor as tf.Tensor).shape)) {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}: "${name}" is not a tensor.`, {
      expected: `a tf.Tensor of shape [${shape.join(',')}]`,
      received: describeValue(tensor),
      fix: 'pass a ParamMap of tensors keyed by variable name',
    });
  }
  if (tensor.isDisposed) {
    throw new NatgradError('DISPOSED', `${owner}: the tensor for "${name}" is disposed.`, {
      expected: 'a live tensor',
      received: 'a disposed tensor',
      fix: 'keep the tensor alive until the call returns',
    });
  }
  if (!sameShape(tensor.shape, shape)) {
    throw new NatgradError('SHAPE_MISMATCH', `${owner}: wrong shape for "${name}".`, {
      expected: `shape [${shape.join(',')}] (the variable's shape)`,
      received: describeValue(tensor),
      fix: 'pass gradients/vectors shaped like the variables they belong to',
    });
  }
}

/** Rejects anything but an object of tensors keyed by variable name. */
export function checkParamMap(owner: string, map: ParamMap): void {
  if (map === null || typeof map !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}: not a ParamMap.`, {
      expected: 'tensors keyed by variable name',
      received: describeValue(map),
      fix: 'pass an object such as { "dense_1/kernel": t, "dense_1/bias": u }',
    });
  }
}
