/**
 * Restore-side checks for StateDicts: a state written by another component, by an incompatible
 * version, or for other layers is rejected with a clear error instead of being loaded as garbage.
 */
import * as tf from '@tensorflow/tfjs';
import { type JsonValue, NatgradError, type StateDict, describeValue } from '@natgrad/core';
import { sameShape } from './param-map';

export function checkStateHeader(owner: string, state: StateDict, kind: string, version: number): void {
  if (state === null || typeof state !== 'object' || typeof state.values !== 'object' || typeof state.tensors !== 'object') {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: not a StateDict.`, {
      expected: '{ kind, version, values, tensors }',
      received: describeValue(state),
      fix: 'pass the object returned by getState() (or read back by the checkpoint loader)',
    });
  }
  if (state.kind !== kind || state.version !== version) {
    throw new NatgradError('STATE_MISMATCH', `${owner}.setState: state of another component or version.`, {
      expected: `kind "${kind}", version ${version}`,
      received: `kind ${describeValue(state.kind)}, version ${describeValue(state.version)}`,
      fix: 'restore a state written by the same estimator type (and natgrad version)',
    });
  }
}

export function stateNumber(owner: string, values: Record<string, JsonValue>, key: string, nullable = false): number | null {
  const v = values[key];
  if (nullable && v === null) return null;
  if (typeof v !== 'number' || !Number.isFinite(v)) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: bad value "${key}".`, {
      expected: nullable ? 'a finite number or null' : 'a finite number',
      received: describeValue(v),
      fix: 'the checkpoint is damaged; restore another one',
    });
  }
  return v;
}

/** The state tensor `key`, checked for presence and shape, cast to float32 (caller owns the result). */
export function stateTensor(owner: string, state: StateDict, key: string, shape: readonly number[]): tf.Tensor {
  const t = state.tensors[key];
  if (t === undefined || t === null || !Array.isArray(t.shape) || t.isDisposed) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: missing tensor "${key}".`, {
      expected: `a live tensor "${key}" of shape [${shape.join(',')}]`,
      received: describeValue(t),
      fix: 'the checkpoint is incomplete; restore one written by getState()',
    });
  }
  if (!sameShape(t.shape, shape)) {
    throw new NatgradError('STATE_MISMATCH', `${owner}.setState: tensor "${key}" has the wrong shape.`, {
      expected: `shape [${shape.join(',')}]`,
      received: describeValue(t),
      fix: 'restore a state written for the same model (same layers and sizes)',
    });
  }
  return t.dtype === 'float32' ? tf.clone(t) : tf.cast(t, 'float32');
}

export function lifecycleError(owner: string, disposed: boolean, what: string): NatgradError {
  return disposed
    ? new NatgradError('DISPOSED', `${owner}: ${what} after dispose().`, {
        expected: 'a live estimator',
        received: 'a disposed estimator',
        fix: 'create a new estimator and init() it',
      })
    : new NatgradError('NOT_INITIALIZED', `${owner}: ${what} before init().`, {
        expected: 'init(layers, variables) first',
        received: 'an estimator without layers',
        fix: 'call init() with the layers reported by the capture',
      });
}
