/**
 * exponentialDecay: lambda(t) = max(initial * rate^(t / decaySteps), min), continuous (the FOP
 * paper uses exponential schedules for KFAC/FOP on ImageNet).
 */
import type { DampingSchedule, JsonValue } from '@natgrad/core';
import { FixedSchedule, NON_FINITE_KEYS, type NonFiniteOptions, resolveNonFinite } from './internal/fixed-schedule';
import { integerAtLeast, nonNegative, positive, rejectUnknown, requireOptions } from './internal/validate';

export const EXPONENTIAL_DECAY_KIND = 'natgrad.damping/exponential-decay';

export interface ExponentialDecayOptions extends NonFiniteOptions {
  initial: number;
  /** Multiplier reached after `decaySteps` steps (e.g. 0.5). */
  rate: number;
  decaySteps: number;
  /** Floor of the schedule. Default 0 (no floor). */
  min?: number;
}

class ExponentialDecay extends FixedSchedule {
  readonly name = 'exponentialDecay';
  constructor(
    private readonly o: { initial: number; rate: number; decaySteps: number; min: number },
    nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {
    super(EXPONENTIAL_DECAY_KIND, nonFinite);
  }
  protected base(step: number): number {
    return Math.max(this.o.initial * this.o.rate ** (step / this.o.decaySteps), this.o.min);
  }
  protected options(): Record<string, JsonValue> {
    return { ...this.o };
  }
}

export function exponentialDecay(options: ExponentialDecayOptions): DampingSchedule {
  const where = 'exponentialDecay()';
  requireOptions(where, options, 'exponentialDecay({ initial: 1e-2, rate: 0.5, decaySteps: 1000 })');
  rejectUnknown(where, options, ['initial', 'rate', 'decaySteps', 'min', ...NON_FINITE_KEYS]);
  const o = {
    initial: positive(where, 'initial', options.initial, '1e-2'),
    rate: positive(where, 'rate', options.rate, '0.5'),
    decaySteps: integerAtLeast(where, 'decaySteps', options.decaySteps, 1),
    min: nonNegative(where, 'min', options.min ?? 0, '1e-6'),
  };
  return new ExponentialDecay(o, resolveNonFinite(where, options));
}
