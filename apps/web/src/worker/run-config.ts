/**
 * What a training run is asked to do, checked once where it enters (the worker and the test hook),
 * so a bad field from the form or from a test script is an INVALID_ARGUMENT naming the field.
 */
import { NatgradError, describeValue } from '@natgrad/core';
import { type OptimizerName, isOptimizerName } from '../optimizers';

export const PAGE_BACKENDS = ['webgpu', 'webgl', 'wasm', 'cpu'] as const;
export type PageBackend = (typeof PAGE_BACKENDS)[number];

export interface RunConfig {
  /** 'A' or 'B' on the page; any label from the hook. */
  id: string;
  optimizer: OptimizerName;
  backend: PageBackend | 'auto';
  steps: number;
  batchSize: number;
  seed: number;
  /** Undefined: the preset's default. */
  learningRate?: number;
  /** Undefined: 1e-2 (the CLI's default); ignored by sgd and adamw. */
  damping?: number;
  /** Units of the first hidden layer. */
  hidden: number;
  /** Evaluate on the test set every this many steps (0: never), and after the last step. */
  evalEvery: number;
  /** Test examples evaluated (the first ones of the test split). */
  evalSize: number;
  /** Average-pool the images by this factor first (1: full size; 2: 28×28 → 14×14). */
  downsample: number;
  /** Report per-step weight moves for the parity check (one extra device read per step). */
  trace: boolean;
}

export const DEFAULT_RUN: Omit<RunConfig, 'id' | 'optimizer'> = {
  backend: 'auto',
  steps: 300,
  batchSize: 64,
  seed: 1,
  hidden: 64,
  evalEvery: 25,
  evalSize: 2000,
  downsample: 1,
  trace: false,
};

function bad(field: string, expected: string, received: unknown): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `Invalid run setting ${field}.`, { expected, received: describeValue(received), fix: `set ${field} to ${expected}` });
}

const positiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;

/** Fills defaults and checks every field; throws INVALID_ARGUMENT naming the first bad one. */
export function resolveRunConfig(partial: Omit<Partial<RunConfig>, 'optimizer'> & { optimizer: string }): RunConfig {
  const c = { ...DEFAULT_RUN, id: 'A', ...partial } as RunConfig;
  if (!isOptimizerName(c.optimizer)) throw bad('optimizer', 'fop, kfac, diagonal-fop, diagonal, sgd or adamw', c.optimizer);
  if (c.backend !== 'auto' && !(PAGE_BACKENDS as readonly string[]).includes(c.backend)) throw bad('backend', `auto, ${PAGE_BACKENDS.join(', ')}`, c.backend);
  if (!positiveInt(c.steps)) throw bad('steps', 'a positive integer', c.steps);
  // FOP splits each batch into two equal halves.
  if (!positiveInt(c.batchSize) || c.batchSize < 2 || c.batchSize % 2 !== 0) throw bad('batchSize', 'an even integer ≥ 2', c.batchSize);
  if (!Number.isInteger(c.seed) || c.seed < 0) throw bad('seed', 'an integer ≥ 0', c.seed);
  if (!positiveInt(c.hidden)) throw bad('hidden', 'a positive integer', c.hidden);
  if (!Number.isInteger(c.evalEvery) || c.evalEvery < 0) throw bad('evalEvery', 'an integer ≥ 0', c.evalEvery);
  if (![1, 2, 4].includes(c.downsample)) throw bad('downsample', '1, 2 or 4', c.downsample);
  if (!positiveInt(c.evalSize)) throw bad('evalSize', 'a positive integer', c.evalSize);
  if (c.learningRate !== undefined && !(Number.isFinite(c.learningRate) && c.learningRate > 0)) throw bad('learningRate', 'a number > 0 (or unset)', c.learningRate);
  if (c.damping !== undefined && !(Number.isFinite(c.damping) && c.damping > 0)) throw bad('damping', 'a number > 0 (or unset)', c.damping);
  return c;
}
