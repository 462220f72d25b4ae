/**
 * Restore-side checks for StateDicts: a state written by another component, by an incompatible
 * version, or for other layers is rejected with a clear error instead of being loaded as garbage.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type JsonValue, NatgradError, type StateDict, describeValue } from '@natgrad/core';
import { debiasScale } from './ema';
import { sameShape } from './param-map';

function checkStateHeader(owner: string, state: StateDict, kind: string, version: number): void {
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

function stateNumber(owner: string, values: Record<string, JsonValue>, key: string, nullable = false): number | null {
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

/** The values every EMA estimator saves, checked for consistency. */
export interface EmaStateValues {
  steps: number;
  /** The damping of the saved inverse cache; null when none had been built. */
  damping: number | null;
  /** Multiplies the saved raw EMA so that, debiased with this estimator's decay, it equals the saved debiased one. */
  rescale: number;
}

/**
 * Checks kind and version, then reads steps, decay and damping. A state saved with another decay
 * keeps its debiased statistics: `rescale` converts the raw EMA to this estimator's decay.
 */
export function readEmaState(owner: string, state: StateDict, kind: string, version: number, decay: number): EmaStateValues {
  checkStateHeader(owner, state, kind, version);
  const steps = stateNumber(owner, state.values, 'steps') as number;
  const savedDecay = stateNumber(owner, state.values, 'decay') as number;
  const damping = stateNumber(owner, state.values, 'damping', true);
  if (!Number.isInteger(steps) || steps < 0 || savedDecay < 0 || savedDecay >= 1 || (damping !== null && !(damping > 0))) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: inconsistent values.`, {
      expected: 'steps a non-negative integer, decay in [0, 1), damping > 0 or null',
      received: `steps ${steps}, decay ${savedDecay}, damping ${damping}`,
      fix: 'restore a state written by getState()',
    });
  }
  const rescale = steps === 0 ? 1 : debiasScale(savedDecay, steps) / debiasScale(decay, steps);
  return { steps, damping, rescale };
}

/** Rejects a state whose layout (layers, parameters, mode) differs from this estimator's. */
export function checkStateLayout(owner: string, expected: JsonValue, saved: JsonValue, what: string, fix: string): void {
  if (JSON.stringify(saved) !== JSON.stringify(expected)) {
    throw new NatgradError('STATE_MISMATCH', `${owner}.setState: the state is for ${what}.`, {
      expected: JSON.stringify(expected).slice(0, 300),
      received: JSON.stringify(saved).slice(0, 300),
      fix,
    });
  }
}

/**
 * Assigns each saved statistics tensor, times `rescale`, to its variable. Every tensor is read and
 * checked first, so a missing or misshapen one leaves all variables as they were.
 */
export function restoreStatistics(owner: string, state: StateDict, targets: readonly { key: string; variable: tf.Variable }[], rescale: number): void {
  const loaded: tf.Tensor[] = [];
  try {
    for (const { key, variable } of targets) loaded.push(stateTensor(owner, state, key, variable.shape));
    tf.tidy(() => {
      targets.forEach(({ variable }, i) => {
        variable.assign(tf.mul(loaded[i], rescale));
      });
    });
  } finally {
    tf.dispose(loaded);
  }
}
