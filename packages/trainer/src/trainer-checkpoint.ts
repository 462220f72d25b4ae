/**
 * A whole trainer in checkpoint bytes: every model weight (including non-trainable ones such as
 * BatchNorm statistics), the state of each component (update rule, curvature, damping, plateau),
 * the step and epoch counters, the curvature cadence and the RNG, i.e. everything a bit-identical
 * resume needs. Names are made positional (checkpoint.ts) and the container is
 * checkpoint-format.ts. A restore checks the composition and the variables first and is
 * all-or-nothing: a component that rejects its state rolls every other one back.
 */
import * as tf from './tf';
import { type JsonValue, NatgradError, type StateDict, type Stateful } from '@natgrad/core';
import { type NonFiniteTensor, decodeCheckpoint, encodeCheckpoint, nonFiniteTensors, readCheckpointMeta } from './checkpoint-format';
import { NameCanonicalizer, type StoredState, loadState, storeState } from './checkpoint';

/** The trainer's own counters and RNG state (the `trainer` section of the meta). */
export interface TrainerProgress {
  step: number;
  epoch: number;
  skippedSteps: number;
  statisticsUpdates: number;
  inverseRefreshes: number;
  rng: number;
}

type Component = Stateful & { readonly name?: string };

/** What is saved and restored. Components are in checkpoint order; null ones are absent. */
export interface CheckpointSubject {
  model: tf.LayersModel;
  components: {
    updateRule: Component;
    curvature: Component | null;
    damping: Component | null;
    plateau: Component | null;
  };
  /** Names that must match between the writer and the reader. */
  composition: Record<string, JsonValue>;
  progress(): TrainerProgress;
  /** Applies restored progress; may throw (the restore then rolls back). */
  setProgress(progress: TrainerProgress): void;
}

interface CheckpointMeta {
  trainer: TrainerProgress;
  composition: Record<string, JsonValue>;
  model: { variables: { name: string; shape: number[]; dtype: string }[] };
  states: Record<string, StoredState | null>;
  /** The caller's opaque record (toCheckpointBytes({progress})), null when none was given. */
  progress?: JsonValue;
}

/** Options of Trainer.toCheckpointBytes(). */
export interface CheckpointOptions {
  /**
   * Any JSON the caller wants stored in the same checksummed bytes as the state (an app's epoch,
   * metrics position, run settings), so progress and weights are one unit that cannot drift
   * apart. Read it back with readCheckpointProgress(bytes) or as restoreCheckpoint()'s result.
   */
  progress?: JsonValue;
}

/** Names the non-finite tensors in the model's own names, worst first, for an error message. */
function describeNonFinite(bad: NonFiniteTensor[], names: NameCanonicalizer): string {
  const sorted = [...bad].sort((a, b) => b.count - a.count);
  const shown = sorted.slice(0, 5).map((b) => `"${names.local(b.key)}" (${b.count} of ${b.size} entries)`);
  const more = sorted.length > 5 ? ` and ${sorted.length - 5} more tensors` : '';
  return `${shown.join(', ')}${more}`;
}

function mismatch(summary: string, expected: string, received: string): NatgradError {
  return new NatgradError('CHECKPOINT_MISMATCH', summary, {
    expected,
    received,
    fix: 'load the checkpoint into a trainer built with the same model architecture and the same composition',
  });
}

function canonicalizer(model: tf.LayersModel): NameCanonicalizer {
  return new NameCanonicalizer(
    model.weights.map((w) => w.name),
    model.layers.map((l) => l.name),
  );
}

function componentStates(subject: CheckpointSubject): Record<string, StateDict | null> {
  const { updateRule, curvature, damping, plateau } = subject.components;
  return {
    updateRule: updateRule.getState(),
    curvature: curvature?.getState() ?? null,
    damping: damping?.getState() ?? null,
    plateau: plateau?.getState() ?? null,
  };
}

function disposeStates(states: Record<string, StateDict | null>): void {
  for (const s of Object.values(states)) if (s !== null) tf.dispose(Object.values(s.tensors));
}

export async function writeTrainerCheckpoint(subject: CheckpointSubject, options: CheckpointOptions = {}): Promise<Uint8Array> {
  const weights = subject.model.weights;
  const names = canonicalizer(subject.model);
  const tensors: Record<string, tf.Tensor> = {};
  // Everything is taken synchronously, before the first await, so the checkpoint is one consistent
  // state even if a step starts while the encoding awaits the device. Clones share the variables'
  // data (no copy) and keep it alive through those reads whatever the variables are assigned.
  const weightCopies = weights.map((w) => tf.clone(w.read()));
  weightCopies.forEach((t, i) => {
    tensors[`model/@v${i}`] = t;
  });
  let states: Record<string, StateDict | null> = {};
  try {
    states = componentStates(subject);
    const stored: Record<string, JsonValue> = {};
    for (const [key, state] of Object.entries(states)) {
      stored[key] = state === null ? null : (storeState(key, state, names, tensors) as unknown as JsonValue);
    }
    const meta: JsonValue = {
      trainer: { ...subject.progress() },
      composition: subject.composition,
      model: { variables: weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: w.dtype })) },
      states: stored,
      progress: options.progress ?? null,
    };
    const bytes = await encodeCheckpoint(meta, tensors);
    // A diverged run must not become the state a resume starts from: refuse it here, where the
    // encoding has already read every tensor to the host (no extra device transfer).
    const bad = nonFiniteTensors(bytes);
    if (bad.length > 0) {
      throw new NatgradError('NON_FINITE_INPUT', 'Trainer state holds non-finite values; the checkpoint was not written.', {
        expected: 'finite weights, optimizer state and curvature factors',
        received: `NaN or Infinity in ${describeNonFinite(bad, names)}`,
        fix: 'training diverged: lower the learning rate or raise the damping and resume from the last good checkpoint',
      });
    }
    return bytes;
  } finally {
    disposeStates(states);
    tf.dispose(weightCopies);
  }
}

/** Restores `bytes` into the subject and returns the caller's progress record (null if none). */
export function readTrainerCheckpoint(subject: CheckpointSubject, bytes: Uint8Array): JsonValue {
  const { meta, tensors, nonFinite } = decodeCheckpoint(bytes);
  try {
    if (nonFinite.length > 0) {
      throw new NatgradError('NON_FINITE_INPUT', 'Checkpoint holds non-finite values; nothing was restored.', {
        expected: 'finite weights, optimizer state and curvature factors',
        received: `NaN or Infinity in ${describeNonFinite(nonFinite, canonicalizer(subject.model))}`,
        fix: 'the run had diverged when this was saved: resume from an earlier checkpoint or start again with a lower learning rate',
      });
    }
    const m = meta as unknown as CheckpointMeta;
    restore(subject, m, tensors);
    return m.progress ?? null;
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/**
 * The progress record stored by toCheckpointBytes({progress}), read from verified bytes (every
 * checksum checked) without creating a tensor or needing a trainer; null when none was stored.
 */
export function readCheckpointProgress(bytes: Uint8Array): JsonValue {
  const meta = readCheckpointMeta(bytes);
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) return null;
  return (meta as Record<string, JsonValue>).progress ?? null;
}

function restore(subject: CheckpointSubject, meta: CheckpointMeta, tensors: Record<string, tf.Tensor>): void {
  if (meta === null || typeof meta !== 'object' || meta.trainer == null || meta.model == null || meta.states == null) {
    throw new NatgradError('CHECKPOINT_CORRUPT', 'Checkpoint meta is incomplete.', {
      expected: 'trainer, composition, model and states sections',
      received: JSON.stringify(Object.keys(meta ?? {})),
      fix: 'use a checkpoint written by Trainer.toCheckpointBytes() (or saveCheckpoint from @natgrad/trainer/node)',
    });
  }
  for (const [key, value] of Object.entries(subject.composition)) {
    if (meta.composition?.[key] !== value) {
      throw mismatch(`Checkpoint was written by a different composition (${key}).`, `${key} ${JSON.stringify(value)}`, `${key} ${JSON.stringify(meta.composition?.[key])}`);
    }
  }
  const weights = subject.model.weights;
  checkVariables(weights, meta.model.variables, tensors);
  const names = canonicalizer(subject.model);
  // Snapshot for rollback, so a component that rejects its state leaves the trainer as it was.
  const backupWeights = weights.map((w) => tf.clone(w.read()));
  const backupStates = componentStates(subject);
  const components = Object.entries(subject.components) as [string, Component | null][];
  try {
    weights.forEach((w, i) => {
      w.write(tensors[`model/@v${i}`]);
    });
    for (const [key, component] of components) {
      const stored = meta.states[key];
      if (component === null) continue;
      if (stored == null) throw mismatch(`Checkpoint has no ${key} state.`, `a ${key} state`, 'none');
      try {
        component.setState(loadState(key, stored, names, tensors));
      } catch (cause) {
        if (cause instanceof NatgradError && cause.code === 'CHECKPOINT_MISMATCH') throw cause;
        throw new NatgradError('CHECKPOINT_MISMATCH', `Checkpoint ${key} state does not fit this trainer.`, {
          expected: `a ${key} state accepted by "${component.name ?? key}"`,
          received: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
          fix: 'load the checkpoint into a trainer built with the same model and the same composition options',
          cause,
        });
      }
    }
    subject.setProgress(meta.trainer);
  } catch (err) {
    weights.forEach((w, i) => {
      w.write(backupWeights[i]);
    });
    for (const [key, component] of components) {
      const state = backupStates[key];
      if (component !== null && state !== null) component.setState(state);
    }
    throw err;
  } finally {
    tf.dispose(backupWeights);
    disposeStates(backupStates);
  }
}

/** The saved variables must be the model's, in order and shape. */
function checkVariables(weights: tf.LayerVariable[], saved: CheckpointMeta['model']['variables'], tensors: Record<string, tf.Tensor>): void {
  if (!Array.isArray(saved) || saved.length !== weights.length) {
    throw mismatch(
      'Checkpoint holds a different number of model variables.',
      `${weights.length} variables (${weights.map((w) => w.name).join(', ')})`,
      `${Array.isArray(saved) ? saved.length : 'no'} variables (${Array.isArray(saved) ? saved.map((v) => v.name).join(', ') : ''})`,
    );
  }
  weights.forEach((w, i) => {
    const s = saved[i];
    const t = tensors[`model/@v${i}`];
    const savedShape = Array.isArray(s?.shape) ? s.shape : [];
    // Both the listed shape and the stored tensor's are printed: a transposed tensor under a
    // correct listing must not read "expected [3,4], received [3,4]".
    const received = `"${s?.name}" listed as [${savedShape.join(',')}]${t === undefined ? ', no stored tensor' : `, stored as ${t.dtype} [${t.shape.join(',')}]`}`;
    if (!tf.util.arraysEqual(savedShape, w.shape as number[]) || t === undefined || !tf.util.arraysEqual(t.shape, w.shape as number[])) {
      throw mismatch(`Checkpoint variable "${s?.name}" does not fit model variable "${w.name}".`, `variable #${i} "${w.name}" of shape [${w.shape.join(',')}]`, received);
    }
    // An int32 tensor written into a float32 variable would fail inside tfjs with a raw message.
    if (t.dtype !== w.dtype) {
      throw mismatch(`Checkpoint variable "${s?.name}" has the wrong dtype.`, `variable #${i} "${w.name}" of dtype ${w.dtype}`, received);
    }
  });
}
