/**
 * Presets: one-liners that return a whole composition (curvature, projection, damping, update rule,
 * learning rate, cadences) with the anchor defaults of the field, every part overridable by name,
 * so that swapping the curvature or the projection is one argument:
 *   new Trainer({ model, loss: 'categoricalCrossentropy', ...fop({ learningRate: 0.05 }) })
 *   fop({ curvature: diagonal() })   // FOP over a diagonal Fisher instead of KFAC
 * Defaults: factor EMA decay 0.95, statistics every step, inverses every 10 steps (tensorflow/kfac's
 * cadence), damping 1e-3 (the FOP paper's long-tailed CIFAR setting, arXiv 2508.13898), true
 * (sampled) Fisher, and SGD with momentum 0.9 after preconditioning (the ASDL pattern the paper
 * uses) at learning rate 0.01 (0.1 for plain SGD, 1e-3 for AdamW); FOP splits each batch into two halves.
 */
import {
  type CurvatureEstimator,
  type DampingSchedule,
  type FisherType,
  NatgradError,
  type ProjectionStrategy,
  type Schedule,
  type StatisticsWorker,
  type UpdateRule,
  describeValue,
} from '@natgrad/core';
import { type DiagonalMode, diagonal as diagonalCurvature, kfac as kfacCurvature } from '@natgrad/curvature';
import { constant as constantDamping } from '@natgrad/damping';
import { fisherOrthogonal, identity } from '@natgrad/projection';
import type { ReduceLROnPlateau } from './lr-schedules';
import type { Composition } from './trainer';
import { AdamW } from './update-rules/adamw';
import { Sgd } from './update-rules/sgd';

export interface PresetOptions {
  learningRate?: Schedule;
  /** Replaces the preset's update rule entirely (then momentum/weightDecay/nesterov are ignored). */
  updateRule?: UpdateRule;
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
  plateau?: ReduceLROnPlateau | null;
  clipNorm?: number | null;
}

export interface CurvaturePresetOptions extends PresetOptions {
  /** Replaces the preset's curvature estimator (e.g. diagonal() in fop()). */
  curvature?: CurvatureEstimator;
  /** Replaces the preset's projection (e.g. average() in kfac()). */
  projection?: ProjectionStrategy;
  /** A number is a constant damping; or any DampingSchedule (e.g. levenbergMarquardt()). */
  damping?: number | DampingSchedule;
  /** EMA decay of the curvature statistics (default 0.95); ignored when `curvature` is given. */
  decay?: number;
  /** Which Fisher the statistics use (default 'sampled'); ignored when `curvature` is given. */
  fisher?: FisherType;
  /**
   * KFAC only: compute the factor statistics on this worker thread (createStatisticsWorker() of
   * @natgrad/backends), bit-identical to the inline ones; ignored when `curvature` is given.
   */
  statisticsWorker?: StatisticsWorker;
  statisticsEvery?: number;
  inverseEvery?: number;
}

/** Options of the diagonal presets. */
export interface DiagonalPresetOptions extends CurvaturePresetOptions {
  /**
   * 'fisher' (default): the per-example diagonal Fisher of the Dense/Conv2D layers. 'empirical':
   * squared mean gradients of every trainable variable (empirical Fisher), which needs no layer
   * capture, so it also trains models without Dense/Conv2D layers.
   */
  mode?: DiagonalMode;
}

const PRESET_KEYS = ['learningRate', 'updateRule', 'momentum', 'nesterov', 'weightDecay', 'plateau', 'clipNorm'];
const CURVATURE_KEYS = [...PRESET_KEYS, 'curvature', 'projection', 'damping', 'decay', 'fisher', 'statisticsWorker', 'statisticsEvery', 'inverseEvery'];

function checkKeys(preset: string, options: object, allowed: readonly string[]): void {
  if (options === null || typeof options !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', `${preset}(): options must be an object.`, {
      expected: `an object with some of ${allowed.join(', ')}`,
      received: describeValue(options),
      fix: `call ${preset}() or ${preset}({ learningRate: 0.1 })`,
    });
  }
  const unknown = Object.keys(options).filter((k) => !allowed.includes(k));
  if (unknown.length > 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${preset}(): unknown option${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')}.`, {
      expected: `options among ${allowed.join(', ')}`,
      received: JSON.stringify(unknown),
      fix: 'check the spelling; every part of the composition is overridable by these names',
    });
  }
}

function sgdFrom(o: PresetOptions): UpdateRule {
  return o.updateRule ?? new Sgd({ momentum: o.momentum ?? 0.9, nesterov: o.nesterov ?? false, weightDecay: o.weightDecay ?? 0 });
}

function common(o: PresetOptions, learningRate: Schedule, updateRule: UpdateRule): Composition {
  return { learningRate: o.learningRate ?? learningRate, updateRule, plateau: o.plateau ?? null, clipNorm: o.clipNorm ?? null };
}

function curvaturePreset(
  name: string,
  o: CurvaturePresetOptions,
  makeCurvature: (decay: number, fisher: FisherType, statisticsWorker: StatisticsWorker | undefined) => CurvatureEstimator,
  makeProjection: () => ProjectionStrategy,
  extraKeys: readonly string[] = [],
  defaultFisher: FisherType = 'sampled',
): Composition {
  checkKeys(name, o, [...CURVATURE_KEYS, ...extraKeys]);
  const damping = o.damping ?? 1e-3;
  return {
    // 0.01, not SGD's 0.1: with momentum 0.9 and no KL clipping, a natural-gradient step of
    // lr 0.1 overshoots even on small problems (measured in presets.test.ts' problem).
    ...common(o, 0.01, sgdFrom(o)),
    curvature: o.curvature ?? makeCurvature(o.decay ?? 0.95, o.fisher ?? defaultFisher, o.statisticsWorker),
    projection: o.projection ?? makeProjection(),
    damping: typeof damping === 'number' ? constantDamping(damping) : damping,
    statisticsEvery: o.statisticsEvery ?? 1,
    inverseEvery: o.inverseEvery ?? 10,
  };
}

/** Refuses a statistics worker for the diagonal presets (their statistics are not Gram products). */
function kfacOnly(preset: string, statisticsWorker: StatisticsWorker | undefined): Record<string, never> {
  if (statisticsWorker === undefined) return {};
  throw new NatgradError('INVALID_ARGUMENT', `${preset}(): statisticsWorker applies to KFAC statistics only.`, {
    expected: 'no statisticsWorker with a diagonal curvature',
    received: 'a statisticsWorker',
    fix: 'use it with kfac() or fop(), or leave it out',
  });
}

/** SGD with momentum 0.9, learning rate 0.1, no curvature. */
export function sgd(options: PresetOptions = {}): Composition {
  checkKeys('sgd', options, PRESET_KEYS);
  return common(options, 0.1, sgdFrom(options));
}

/** AdamW (lr 1e-3, weight decay 0.01), no curvature. `momentum`/`nesterov` do not apply. */
export function adamw(options: PresetOptions = {}): Composition {
  checkKeys('adamw', options, PRESET_KEYS);
  if (options.momentum !== undefined || options.nesterov !== undefined) {
    throw new NatgradError('INVALID_ARGUMENT', 'adamw(): momentum and nesterov are SGD options.', {
      expected: 'learningRate, weightDecay, updateRule (e.g. new AdamW({ beta1 }))',
      received: JSON.stringify(Object.keys(options)),
      fix: 'pass updateRule: new AdamW({ beta1: 0.9, beta2: 0.999 }) to change the moments',
    });
  }
  return common(options, 1e-3, options.updateRule ?? new AdamW({ weightDecay: options.weightDecay ?? 0.01 }));
}

/** KFAC: Kronecker-factored true Fisher, one batch (identity projection), SGD momentum after preconditioning. */
export function kfac(options: CurvaturePresetOptions = {}): Composition {
  return curvaturePreset('kfac', options, (decay, fisher, statisticsWorker) => kfacCurvature({ decay, fisher, statisticsWorker }), identity);
}

/** FOP (arXiv 2508.13898): KFAC curvature with Fisher-orthogonal projection of two half-batch gradients. */
export function fop(options: CurvaturePresetOptions = {}): Composition {
  return curvaturePreset('fop', options, (decay, fisher, statisticsWorker) => kfacCurvature({ decay, fisher, statisticsWorker }), () => fisherOrthogonal());
}

/** The diagonal estimator of a diagonal preset; mode 'empirical' defaults to the empirical Fisher. */
function diagonalPreset(name: string, options: DiagonalPresetOptions, makeProjection: () => ProjectionStrategy): Composition {
  const mode = options?.mode;
  const make = (decay: number, fisher: FisherType, worker: StatisticsWorker | undefined) =>
    diagonalCurvature({ decay, fisher, ...(mode === undefined ? {} : { mode }), ...kfacOnly(name, worker) });
  return curvaturePreset(name, options, make, makeProjection, ['mode'], mode === 'empirical' ? 'empirical' : 'sampled');
}

/**
 * Diagonal (per-parameter) true Fisher, one batch, SGD momentum after preconditioning;
 * diagonal({ mode: 'empirical' }) for models without Dense/Conv2D layers.
 */
export function diagonal(options: DiagonalPresetOptions = {}): Composition {
  return diagonalPreset('diagonal', options, identity);
}

/** FOP over the diagonal Fisher: the cheap curvature with the two-half projection. */
export function diagonalFop(options: DiagonalPresetOptions = {}): Composition {
  return diagonalPreset('diagonalFop', options, () => fisherOrthogonal());
}

/** All presets by name, for CLIs and sweeps. */
export const presets = { sgd, adamw, kfac, fop, diagonal, diagonalFop } as const;
export type PresetName = keyof typeof presets;
