/**
 * Base of the step-driven damping schedules (constant, step, exponential, cosine, piecewise):
 * value(step) = base(step) * boost. The boost starts at 1 and is multiplied by `nonFiniteFactor`
 * (default 10) each time the trainer reports a skipped non-finite step, up to `maxBoost` (default
 * 1e4, i.e. four raises). It is persistent on purpose: a step that produced NaN or Inf showed that
 * the curvature was under-damped for this problem, and decaying the boost back would walk into the
 * same failure again. The boost is the only mutable state; the configuration is stored alongside
 * it so a checkpoint can rebuild the schedule (dampingFromState) or reject a mismatched one.
 */
import { type DampingSchedule, type JsonValue, NatgradError, type StateDict } from '@natgrad/core';
import { checkStep, invalid, positive } from './validate';

export interface NonFiniteOptions {
  /** Multiplier applied to the damping after each skipped non-finite step. Default 10. */
  nonFiniteFactor?: number;
  /** Cap of the accumulated multiplier. Default 1e4. */
  maxBoost?: number;
}

export const NON_FINITE_KEYS = ['nonFiniteFactor', 'maxBoost'] as const;

export const STATE_VERSION = 1;

export function resolveNonFinite(where: string, options: NonFiniteOptions): { nonFiniteFactor: number; maxBoost: number } {
  const nonFiniteFactor = positive(where, 'nonFiniteFactor', options.nonFiniteFactor ?? 10, '10');
  if (nonFiniteFactor <= 1) {
    throw invalid(where, 'nonFiniteFactor', 'a number > 1 (the damping must go up)', nonFiniteFactor, 'pass e.g. nonFiniteFactor: 10');
  }
  const maxBoost = positive(where, 'maxBoost', options.maxBoost ?? 1e4, '1e4');
  if (maxBoost < 1) throw invalid(where, 'maxBoost', 'a number >= 1', maxBoost, 'pass e.g. maxBoost: 1e4');
  return { nonFiniteFactor, maxBoost };
}

/** Throws unless `state` was written by a schedule of this kind, version and configuration. */
export function checkState(
  where: string,
  kind: string,
  config: Record<string, JsonValue>,
  state: StateDict,
): Record<string, JsonValue> {
  if (state === null || typeof state !== 'object' || state.kind !== kind || state.version !== STATE_VERSION) {
    throw new NatgradError('STATE_MISMATCH', `${where}: the state was not written by this schedule.`, {
      expected: `kind "${kind}", version ${STATE_VERSION}`,
      received: state && typeof state === 'object' ? `kind ${JSON.stringify(state.kind)}, version ${String(state.version)}` : String(state),
      fix: 'restore the state into the schedule that wrote it, or rebuild it with dampingFromState(state)',
    });
  }
  const values = state.values ?? {};
  const saved = JSON.stringify(values.config);
  if (saved !== JSON.stringify(config)) {
    throw new NatgradError('STATE_MISMATCH', `${where}: the state was written with other options.`, {
      expected: `options ${JSON.stringify(config)}`,
      received: `options ${saved}`,
      fix: 'construct the schedule with the saved options, or rebuild it with dampingFromState(state)',
    });
  }
  return values;
}

export function corrupt(where: string, what: string, received: unknown): NatgradError {
  return new NatgradError('CHECKPOINT_CORRUPT', `${where}: the saved ${what} is invalid.`, {
    expected: `a valid ${what}`,
    received: String(received),
    fix: 'restore from an intact checkpoint',
  });
}

export abstract class FixedSchedule implements DampingSchedule {
  abstract readonly name: string;
  private boostValue = 1;

  protected constructor(
    private readonly kind: string,
    private readonly nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {}

  /** The schedule before any non-finite boost. `step` is already validated. */
  protected abstract base(step: number): number;
  /** The options that define the schedule (JSON), without the non-finite ones. */
  protected abstract options(): Record<string, JsonValue>;

  /** The current non-finite multiplier (1 until a non-finite step was reported). */
  get boost(): number {
    return this.boostValue;
  }

  value(step: number): number {
    return this.base(checkStep(this.name, step)) * this.boostValue;
  }

  onNonFiniteStep(step: number): void {
    checkStep(this.name, step);
    this.boostValue = Math.min(this.boostValue * this.nonFinite.nonFiniteFactor, this.nonFinite.maxBoost);
  }

  config(): Record<string, JsonValue> {
    return { ...this.options(), ...this.nonFinite };
  }

  getState(): StateDict {
    return { kind: this.kind, version: STATE_VERSION, values: { config: this.config(), boost: this.boostValue }, tensors: {} };
  }

  setState(state: StateDict): void {
    const values = checkState(this.name, this.kind, this.config(), state);
    const boost = values.boost;
    if (typeof boost !== 'number' || !Number.isFinite(boost) || boost < 1 || boost > this.nonFinite.maxBoost) {
      throw corrupt(this.name, 'non-finite boost', boost);
    }
    this.boostValue = boost;
  }
}
