/**
 * Serialisable state. Every stateful component (curvature, damping, update rule, schedules)
 * exports a StateDict and restores from one; the trainer's checkpoint writer turns the tensors
 * into bytes. `kind` and `version` let a restore reject a state written by another component or
 * by an incompatible version with a clear error instead of loading garbage.
 */
import type * as tf from '@tensorflow/tfjs-core';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

export interface StateDict {
  kind: string;
  version: number;
  /** Plain values (counters, hyper-parameters that adapt, RNG state). */
  values: Record<string, JsonValue>;
  /** Tensors; getState() returns fresh copies the caller disposes, setState() copies and never takes ownership. */
  tensors: Record<string, tf.Tensor>;
}

export interface Stateful {
  getState(): StateDict;
  setState(state: StateDict): void;
}
