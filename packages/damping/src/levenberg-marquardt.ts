/**
 * levenbergMarquardt(): adaptive damping from the reduction ratio rho = (L(theta + delta) - L(theta))
 * / q(delta) (Martens & Grosse 2015, "Optimizing Neural Networks with Kronecker-factored Approximate
 * Curvature", Section 6.5), with kfac-jax's rule and defaults (kfac_jax/_src/optimizer.py,
 * _compute_new_damping_and_rho): every `adaptEvery` = 5 steps the trainer measures rho and calls
 * observe(); rho > upper (0.75) multiplies lambda by decay^adaptEvery, rho < lower (0.25) divides
 * it by the same factor, and the result is clipped to [min, max] (defaults 1e-8 and +Infinity).
 * Raising `decay` to the power `adaptEvery` is kfac-jax's `damping_decay_factor`: the per-step
 * rate stays `decay` whatever the adaptation interval. A NaN rho counts as a failed step (kfac-jax
 * maps it to -100), so lambda goes up. A skipped non-finite step multiplies lambda by
 * `nonFiniteFactor` (default 10), still capped by max.
 */
import type { DampingObservation, DampingSchedule, JsonValue, StateDict } from '@natgrad/core';
import { STATE_VERSION, checkState, corrupt } from './internal/fixed-schedule';
import { checkStep, integerAtLeast, invalid, positive, rejectUnknown, requireOptions } from './internal/validate';

export const LEVENBERG_MARQUARDT_KIND = 'natgrad.damping/levenberg-marquardt';

export interface LevenbergMarquardtOptions {
  /** Starting lambda, inside [min, max]. */
  initial: number;
  /** Steps between two observations (the trainer's cadence). Default 5. */
  adaptEvery?: number;
  /** rho below this raises lambda. Default 0.25. */
  lower?: number;
  /** rho above this lowers lambda. Default 0.75. */
  upper?: number;
  /** Per-step decay; the applied factor is decay^adaptEvery. In (0, 1). Default 0.9. */
  decay?: number;
  /** Lower bound of lambda. Default 1e-8. */
  min?: number;
  /** Upper bound of lambda. Default +Infinity. */
  max?: number;
  /** Multiplier after a skipped non-finite step. Default 10. */
  nonFiniteFactor?: number;
}

export interface LmConfig {
  initial: number;
  adaptEvery: number;
  lower: number;
  upper: number;
  decay: number;
  min: number;
  max: number;
  nonFiniteFactor: number;
}

export class LevenbergMarquardtDamping implements DampingSchedule {
  readonly name = 'levenbergMarquardt';
  readonly adaptEvery: number;
  private lambda: number;
  private lastRho: number | null = null;

  constructor(private readonly config: LmConfig) {
    this.adaptEvery = config.adaptEvery;
    this.lambda = config.initial;
  }

  /** The current lambda. */
  get damping(): number {
    return this.lambda;
  }

  /** The reduction ratio of the last observe() (NaN if it was NaN), or null before the first. */
  get lastReductionRatio(): number | null {
    return this.lastRho;
  }

  /** The factor applied per observation: decay^adaptEvery (kfac-jax's damping_decay_factor). */
  get factor(): number {
    return this.config.decay ** this.config.adaptEvery;
  }

  value(step: number): number {
    checkStep(this.name, step);
    return this.lambda;
  }

  observe(observation: DampingObservation): void {
    if (observation === null || typeof observation !== 'object') {
      throw invalid(this.name, 'observation', '{ step, reductionRatio }', observation, 'pass the step and the measured rho');
    }
    checkStep(this.name, observation.step);
    const rho = observation.reductionRatio;
    if (typeof rho !== 'number') {
      throw invalid(this.name, 'reductionRatio', 'a number (NaN is allowed and raises the damping)', rho, 'pass reductionRatio(lossBefore, lossAfter, q)');
    }
    this.lastRho = rho;
    const c = this.config;
    let next = this.lambda;
    if (Number.isNaN(rho) || rho < c.lower) next = this.lambda / this.factor;
    else if (rho > c.upper) next = this.lambda * this.factor;
    this.lambda = Math.min(Math.max(next, c.min), c.max);
  }

  onNonFiniteStep(step: number): void {
    checkStep(this.name, step);
    this.lambda = Math.min(Math.max(this.lambda * this.config.nonFiniteFactor, this.config.min), this.config.max);
  }

  /** JSON form of the options; +Infinity (the default max) is written as null. */
  configJson(): Record<string, JsonValue> {
    const c = this.config;
    return { ...c, max: Number.isFinite(c.max) ? c.max : null };
  }

  getState(): StateDict {
    const rho = this.lastRho;
    return {
      kind: LEVENBERG_MARQUARDT_KIND,
      version: STATE_VERSION,
      values: {
        config: this.configJson(),
        damping: this.lambda,
        // JSON has no NaN/Infinity: store them as strings.
        lastReductionRatio: rho === null ? null : Number.isFinite(rho) ? rho : String(rho),
      },
      tensors: {},
    };
  }

  setState(state: StateDict): void {
    const values = checkState(this.name, LEVENBERG_MARQUARDT_KIND, this.configJson(), state);
    const d = values.damping;
    if (typeof d !== 'number' || !Number.isFinite(d) || d < this.config.min || d > this.config.max || d <= 0) {
      throw corrupt(this.name, 'damping', d);
    }
    const r = values.lastReductionRatio;
    let rho: number | null;
    if (r === null || r === undefined) rho = null;
    else if (typeof r === 'number') rho = r;
    else if (r === 'NaN' || r === 'Infinity' || r === '-Infinity') rho = Number(r);
    else throw corrupt(this.name, 'last reduction ratio', JSON.stringify(r));
    this.lambda = d;
    this.lastRho = rho;
  }
}

export function levenbergMarquardt(options: LevenbergMarquardtOptions): LevenbergMarquardtDamping {
  const where = 'levenbergMarquardt()';
  requireOptions(where, options, 'levenbergMarquardt({ initial: 1e-3 })');
  rejectUnknown(where, options, ['initial', 'adaptEvery', 'lower', 'upper', 'decay', 'min', 'max', 'nonFiniteFactor']);
  const min = positive(where, 'min', options.min ?? 1e-8, '1e-8');
  const max = options.max ?? Number.POSITIVE_INFINITY;
  if (typeof max !== 'number' || Number.isNaN(max) || max < min) {
    throw invalid(where, 'max', `a number >= min (${min}), or Infinity`, max, 'pass e.g. max: 1e3');
  }
  const initial = positive(where, 'initial', options.initial, '1e-3');
  if (initial < min || initial > max) {
    throw invalid(where, 'initial', `a damping inside [min, max] = [${min}, ${max}]`, initial, 'move initial inside the bounds');
  }
  const adaptEvery = integerAtLeast(where, 'adaptEvery', options.adaptEvery ?? 5, 1);
  const lower = options.lower ?? 0.25;
  const upper = options.upper ?? 0.75;
  if (typeof lower !== 'number' || typeof upper !== 'number' || !Number.isFinite(lower) || !Number.isFinite(upper) || lower >= upper) {
    throw invalid(where, 'thresholds', 'finite lower < upper', { lower, upper }, 'use the defaults lower: 0.25, upper: 0.75');
  }
  const decay = options.decay ?? 0.9;
  if (typeof decay !== 'number' || !(decay > 0 && decay < 1)) {
    throw invalid(where, 'decay', 'a number in (0, 1)', decay, 'use the default decay: 0.9');
  }
  const nonFiniteFactor = options.nonFiniteFactor ?? 10;
  if (typeof nonFiniteFactor !== 'number' || !Number.isFinite(nonFiniteFactor) || nonFiniteFactor <= 1) {
    throw invalid(where, 'nonFiniteFactor', 'a finite number > 1', nonFiniteFactor, 'use the default nonFiniteFactor: 10');
  }
  return new LevenbergMarquardtDamping({ initial, adaptEvery, lower, upper, decay, min, max, nonFiniteFactor });
}
