/**
 * stepDecay: lambda(t) = max(initial * factor^floor(t / every), min). A staircase, e.g. damping
 * divided by 10 every 30 epochs' worth of steps.
 */
import type { DampingSchedule, JsonValue } from '@natgrad/core';
import { FixedSchedule, NON_FINITE_KEYS, type NonFiniteOptions, resolveNonFinite } from './internal/fixed-schedule';
import { integerAtLeast, nonNegative, positive, rejectUnknown, requireOptions } from './internal/validate';

export const STEP_DECAY_KIND = 'natgrad.damping/step-decay';

export interface StepDecayOptions extends NonFiniteOptions {
  initial: number;
  /** Multiplier applied every `every` steps (e.g. 0.1). */
  factor: number;
  every: number;
  /** Floor of the schedule. Default 0 (no floor). */
  min?: number;
}

class StepDecay extends FixedSchedule {
  readonly name = 'stepDecay';
  constructor(
    private readonly o: { initial: number; factor: number; every: number; min: number },
    nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {
    super(STEP_DECAY_KIND, nonFinite);
  }
  protected base(step: number): number {
    return Math.max(this.o.initial * this.o.factor ** Math.floor(step / this.o.every), this.o.min);
  }
  protected options(): Record<string, JsonValue> {
    return { ...this.o };
  }
}

export function stepDecay(options: StepDecayOptions): DampingSchedule {
  const where = 'stepDecay()';
  requireOptions(where, options, 'stepDecay({ initial: 1e-2, factor: 0.1, every: 1000 })');
  rejectUnknown(where, options, ['initial', 'factor', 'every', 'min', ...NON_FINITE_KEYS]);
  const o = {
    initial: positive(where, 'initial', options.initial, '1e-2'),
    factor: positive(where, 'factor', options.factor, '0.1'),
    every: integerAtLeast(where, 'every', options.every, 1),
    min: nonNegative(where, 'min', options.min ?? 0, '1e-6'),
  };
  return new StepDecay(o, resolveNonFinite(where, options));
}
