/**
 * Shared plumbing of the update rules: validating the direction maps they receive and moving their
 * tf.Variable slots in and out of a StateDict, so each rule file holds only its own arithmetic.
 */
import * as tf from '../tf';
import { NatgradError, type ParamMap, type StateDict, describeValue } from '@natgrad/core';

export function requireInit(rule: string, vars: Record<string, tf.Variable> | null): Record<string, tf.Variable> {
  if (vars === null) {
    throw new NatgradError('NOT_INITIALIZED', `${rule} was used before init().`, {
      expected: 'init(variables) before apply(), getState() or setState()',
      received: 'an uninitialised update rule',
      fix: 'let the Trainer initialise it, or call rule.init(model variables) first',
    });
  }
  return vars;
}

export function checkDirections(rule: string, directions: ParamMap, vars: Record<string, tf.Variable>): void {
  for (const [name, d] of Object.entries(directions)) {
    const v = vars[name];
    if (v === undefined) {
      throw new NatgradError('STATE_MISMATCH', `${rule} received a direction for an unknown variable.`, {
        expected: `one of ${JSON.stringify(Object.keys(vars))}`,
        received: JSON.stringify(name),
        fix: 'pass directions keyed by the variable names given to init()',
      });
    }
    if (d.shape.length !== v.shape.length || d.shape.some((n, i) => n !== v.shape[i])) {
      throw new NatgradError('SHAPE_MISMATCH', `${rule}: direction shape differs from its variable.`, {
        expected: `shape [${v.shape.join(',')}] for ${name}`,
        received: describeValue(d),
        fix: 'pass a direction with the shape of the variable it updates',
      });
    }
  }
}

export function checkLearningRate(rule: string, lr: number): void {
  if (typeof lr !== 'number' || !Number.isFinite(lr) || lr < 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${rule}: invalid learning rate.`, {
      expected: 'a finite learning rate >= 0',
      received: describeValue(lr),
      fix: 'check the learning-rate schedule',
    });
  }
}

// tfjs registers variables by name engine-wide; a counter keeps two trainers' slots apart.
let slotCounter = 0;

/** One zero-initialised slot variable per model variable. */
export function makeSlots(variables: Record<string, tf.Variable>, slot: string): Record<string, tf.Variable> {
  const out: Record<string, tf.Variable> = {};
  for (const [name, v] of Object.entries(variables)) {
    // tf.variable shares the initial tensor's data but leaves the tensor itself alive: tidy frees it.
    out[name] = tf.tidy(() => tf.variable(tf.zerosLike(v), false, `natgrad_${slot}_${slotCounter++}/${name}`));
  }
  return out;
}

export function exportSlots(slots: Record<string, Record<string, tf.Variable>>): Record<string, tf.Tensor> {
  const tensors: Record<string, tf.Tensor> = {};
  for (const [slot, vars] of Object.entries(slots)) {
    for (const [name, v] of Object.entries(vars)) tensors[`${slot}/${name}`] = tf.clone(v);
  }
  return tensors;
}

export function checkKind(state: StateDict, kind: string, version: number): void {
  if (state === null || typeof state !== 'object' || state.kind !== kind || state.version !== version) {
    throw new NatgradError('STATE_MISMATCH', `Cannot restore ${kind} from this state.`, {
      expected: `kind "${kind}", version ${version}`,
      received: state && typeof state === 'object' ? `kind ${describeValue(state.kind)}, version ${describeValue(state.version)}` : describeValue(state),
      fix: `restore from a state written by the same update rule (${kind})`,
    });
  }
}

export function importSlots(kind: string, state: StateDict, slots: Record<string, Record<string, tf.Variable>>): void {
  const expected = new Set<string>();
  for (const [slot, vars] of Object.entries(slots)) {
    for (const [name, v] of Object.entries(vars)) {
      const key = `${slot}/${name}`;
      expected.add(key);
      const t = state.tensors[key];
      if (t === undefined || t.shape.length !== v.shape.length || t.shape.some((n, i) => n !== v.shape[i])) {
        throw new NatgradError('STATE_MISMATCH', `${kind} state does not match the model's variables.`, {
          expected: `tensor "${key}" of shape [${v.shape.join(',')}]`,
          received: t === undefined ? 'no such tensor' : describeValue(t),
          fix: 'restore into a trainer built on the same model architecture',
        });
      }
      // assign() would fail inside tfjs with a raw message.
      if (t.dtype !== v.dtype) {
        throw new NatgradError('STATE_MISMATCH', `${kind} state tensor "${key}" has the wrong dtype.`, {
          expected: `dtype ${v.dtype}`,
          received: `dtype ${t.dtype}`,
          fix: 'restore a state written by the same update rule (the checkpoint may have been edited)',
        });
      }
    }
  }
  const extra = Object.keys(state.tensors).filter((k) => !expected.has(k));
  if (extra.length > 0) {
    throw new NatgradError('STATE_MISMATCH', `${kind} state has tensors for variables this model lacks.`, {
      expected: `only ${JSON.stringify([...expected])}`,
      received: JSON.stringify(extra),
      fix: 'restore into a trainer built on the same model architecture',
    });
  }
  for (const [slot, vars] of Object.entries(slots)) {
    for (const [name, v] of Object.entries(vars)) v.assign(state.tensors[`${slot}/${name}`]);
  }
}

export function disposeSlots(slots: Record<string, tf.Variable> | null): void {
  if (slots === null) return;
  for (const v of Object.values(slots)) v.dispose();
}
