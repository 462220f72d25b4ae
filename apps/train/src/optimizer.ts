/**
 * Turns the train flags into a Trainer composition, component by component, so that
 * `--curvature` and `--projection` swap one piece of a preset and leave the rest alone:
 * curvature estimator (KFAC or diagonal Fisher, sampled or empirical), projection (FOP of
 * arXiv 2508.13898, plain average, or identity), damping schedule, update rule (SGD with momentum
 * for the natural-gradient presets, the ASDL pattern; AdamW for adamw) and learning-rate schedule.
 */
import type { CurvatureEstimator, DampingSchedule, ProjectionStrategy, Schedule, StatisticsWorker } from '@natgrad/core';
import { diagonal, kfac } from '@natgrad/curvature';
import * as damping from '@natgrad/damping';
import { average, fisherOrthogonal, identity } from '@natgrad/projection';
import { type Composition, adamwRule, cosineDecay, exponentialDecay, linearWarmup, sgdRule, stepDecay } from '@natgrad/trainer';
import type { TrainConfig } from './flags/train-flags';

function makeCurvature(c: TrainConfig, statisticsWorker: StatisticsWorker | undefined): CurvatureEstimator | null {
  switch (c.curvature) {
    case 'kfac':
      return kfac({ fisher: c.fisher, statisticsWorker });
    case 'diagonal':
      return diagonal({ fisher: c.fisher });
    case 'none':
      return null;
  }
}

function makeProjection(c: TrainConfig): ProjectionStrategy {
  switch (c.projection) {
    case 'fop':
      return fisherOrthogonal();
    case 'average':
      return average();
    case 'identity':
      return identity();
  }
}

function makeDamping(c: TrainConfig, stepsPerEpoch: number): DampingSchedule {
  switch (c.dampingSchedule) {
    case 'constant':
      return damping.constant(c.damping);
    case 'levenberg-marquardt':
      return damping.levenbergMarquardt({ initial: c.damping, adaptEvery: c.inverseEvery });
    case 'exponential':
      // Halves every epoch: curvature estimates sharpen as training settles.
      return damping.exponentialDecay({ initial: c.damping, rate: 0.5, decaySteps: stepsPerEpoch, min: c.damping * 1e-3 });
  }
}

/** The learning rate as a function of the step; schedules span the whole run (all epochs). */
export function makeLearningRate(c: TrainConfig, stepsPerEpoch: number): Schedule {
  const total = Math.max(1, stepsPerEpoch * c.epochs);
  let lr: Schedule;
  switch (c.lrSchedule) {
    case 'constant':
      lr = c.lr;
      break;
    case 'cosine':
      lr = cosineDecay({ initial: c.lr, decaySteps: total });
      break;
    case 'step':
      // The classic x0.1 at 50% and 75% of training.
      lr = stepDecay({ initial: c.lr, factor: 0.1, milestones: [Math.floor(total / 2), Math.floor((3 * total) / 4)] });
      break;
    case 'exponential':
      lr = exponentialDecay({ initial: c.lr, rate: 0.01, decaySteps: total });
      break;
  }
  return c.warmup > 0 ? linearWarmup(lr, { steps: c.warmup }) : lr;
}

/** `statisticsWorker` (statistics-worker.ts' placeStatistics) applies to KFAC curvature only. */
export function makeComposition(c: TrainConfig, stepsPerEpoch: number, statisticsWorker?: StatisticsWorker): Composition {
  const curvature = makeCurvature(c, statisticsWorker);
  return {
    curvature,
    projection: makeProjection(c),
    damping: curvature === null ? null : makeDamping(c, stepsPerEpoch),
    updateRule: c.optimizer === 'adamw' ? adamwRule({ beta1: c.momentum, weightDecay: c.weightDecay }) : sgdRule({ momentum: c.momentum, weightDecay: c.weightDecay }),
    learningRate: makeLearningRate(c, stepsPerEpoch),
    statisticsEvery: c.factorEvery,
    inverseEvery: c.inverseEvery,
  };
}
