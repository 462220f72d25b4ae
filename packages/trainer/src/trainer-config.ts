/**
 * What a Trainer is built from, and the construction-time checks on it: a Trainer must fail when
 * it is created, with the fix in the message, rather than on its first step (tinygrad's rule).
 * A Composition is everything but the model and the loss, i.e. what a preset returns.
 */
import * as tf from './tf';
import {
  type Communicator,
  type CurvatureEstimator,
  type DampingSchedule,
  type LossFunction,
  NatgradError,
  type ProjectionStrategy,
  type Schedule,
  type ScheduleFn,
  type UpdateRule,
  describeValue,
  resolveSchedule,
} from '@natgrad/core';
import { identity } from '@natgrad/projection';
import type { CaptureOptions } from './capture/index';
import { validateMaxNorm } from './clipping';
import type { LossName } from './losses/index';
import type { ReduceLROnPlateau } from './lr-schedules';

/** Everything but the model and the loss: what a preset returns. */
export interface Composition {
  /** Curvature estimator; null or absent trains with plain (projected) gradients. */
  curvature?: CurvatureEstimator | null;
  /** Sub-batch combination (default identity(): one batch, no projection). */
  projection?: ProjectionStrategy;
  /** Damping schedule; required with a curvature estimator. */
  damping?: DampingSchedule | null;
  updateRule: UpdateRule;
  learningRate: Schedule;
  /** Optional plateau multiplier driven by fit()'s epoch logs. */
  plateau?: ReduceLROnPlateau | null;
  /** Curvature statistics every n steps (default 1). */
  statisticsEvery?: number;
  /** Inverse refresh every n steps (default 10). */
  inverseEvery?: number;
  /** Clip the mean gradient's global norm to this value (default: no clipping). */
  clipNorm?: number | null;
}

export interface TrainerConfig extends Composition {
  model: tf.LayersModel;
  /** A LossFunction or a tfjs-style name such as 'categoricalCrossentropy'. */
  loss: LossFunction | LossName | string;
  /** Seed of the trainer's RNG (shuffling, sampled-Fisher labels); default 0. */
  seed?: number;
  /** Adds `acc` to the logs (classification). */
  metrics?: readonly 'accuracy'[];
  /** Options of the layer capture. */
  capture?: CaptureOptions;
  /**
   * The world communicator of a distributed job (@natgrad/comm-mpi's initMpi(), or
   * createInProcessGroup() from @natgrad/core). Absent or of size 1: single-process training,
   * exactly as without it. Otherwise every rank builds its Trainer with the same configuration,
   * step() receives this rank's shard of the batch, and the ranks take identical steps (arXiv
   * 2508.13898, Algorithm 1; docs/algorithms/distributed-fop.md). FOP needs an even size.
   */
  communicator?: Communicator;
  /**
   * Distributed mode: verifyReplicas() runs every `verifyEvery` steps (default 100; 0 turns it off).
   */
  verifyEvery?: number;
}

/** A composition with its defaults filled in and every value checked. */
export interface ResolvedComposition {
  curvature: CurvatureEstimator | null;
  damping: DampingSchedule | null;
  projection: ProjectionStrategy;
  updateRule: UpdateRule;
  learningRate: ScheduleFn;
  plateau: ReduceLROnPlateau | null;
  statisticsEvery: number;
  inverseEvery: number;
  clipNorm: number | null;
  metrics: readonly 'accuracy'[];
}

export function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
      expected: 'an integer >= 1',
      received: describeValue(value),
      fix: `pass ${what} such as 1 or 10`,
    });
  }
  return value;
}

/** Checks the config (everything but the capture and the loss) and fills in the defaults. */
export function resolveComposition(config: TrainerConfig): ResolvedComposition {
  if (config === null || typeof config !== 'object' || !(config.model instanceof tf.LayersModel)) {
    throw new NatgradError('INVALID_ARGUMENT', 'Trainer needs a tf.LayersModel.', {
      expected: '{ model: tf.LayersModel, loss, updateRule, learningRate, ... }',
      received: describeValue(config?.model),
      fix: 'build the model with tf.sequential() or tf.model() and pass it as `model`',
    });
  }
  if (config.updateRule == null || typeof config.updateRule.apply !== 'function') {
    throw new NatgradError('INVALID_ARGUMENT', 'Trainer needs an update rule.', {
      expected: 'an UpdateRule such as sgdRule() or adamwRule(), or a preset: new Trainer({ model, loss, ...fop() })',
      received: describeValue(config.updateRule),
      fix: 'spread a preset (sgd(), adamw(), kfac(), fop(), ...) into the config',
    });
  }
  const curvature = config.curvature ?? null;
  const damping = config.damping ?? null;
  if (curvature !== null && damping === null) {
    throw new NatgradError('INVALID_ARGUMENT', 'A curvature estimator needs a damping schedule.', {
      expected: 'damping: a DampingSchedule (e.g. constantDamping(1e-3)) alongside curvature',
      received: 'no damping',
      fix: 'pass damping, or use a preset such as kfac() that sets it',
    });
  }
  const projection = config.projection ?? identity();
  positiveInteger(projection.subBatches, 'projection.subBatches');
  return {
    curvature,
    damping,
    projection,
    updateRule: config.updateRule,
    learningRate: resolveSchedule(config.learningRate, 'learning rate'),
    plateau: config.plateau ?? null,
    statisticsEvery: positiveInteger(config.statisticsEvery ?? 1, 'statisticsEvery'),
    inverseEvery: positiveInteger(config.inverseEvery ?? 10, 'inverseEvery'),
    clipNorm: config.clipNorm == null ? null : validateMaxNorm(config.clipNorm),
    metrics: config.metrics ?? [],
  };
}

/** The true Fisher draws targets from the model's predictive distribution: the loss must know how. */
export function checkFisherSupport(curvature: CurvatureEstimator | null, loss: LossFunction): void {
  if (curvature !== null && curvature.requires.fisher === 'sampled' && typeof loss.sampleTargets !== 'function') {
    throw new NatgradError('UNSUPPORTED_LOSS', `The ${loss.name} loss cannot sample targets for the true Fisher.`, {
      expected: 'a loss with sampleTargets(), or a curvature estimator using the empirical Fisher',
      received: `loss "${loss.name}" with curvature "${curvature.name}" (fisher: 'sampled')`,
      fix: "pass fisher: 'empirical' to the curvature estimator, or use a built-in loss name",
    });
  }
}
