/**
 * cosineDecay: lambda(t) = final + (initial - final) * (1 + cos(pi * min(t, steps) / steps)) / 2,
 * then `final` forever. `final` is required and must be > 0: a schedule that silently reached zero
 * damping would make the curvature inverse singular.
 */
import type { DampingSchedule, JsonValue } from '@natgrad/core';
import { FixedSchedule, NON_FINITE_KEYS, type NonFiniteOptions, resolveNonFinite } from './internal/fixed-schedule';
import { integerAtLeast, positive, rejectUnknown, requireOptions } from './internal/validate';

export const COSINE_DECAY_KIND = 'natgrad.damping/cosine-decay';

export interface CosineDecayOptions extends NonFiniteOptions {
  initial: number;
  final: number;
  /** Steps from initial to final. */
  steps: number;
}

class CosineDecay extends FixedSchedule {
  readonly name = 'cosineDecay';
  constructor(
    private readonly o: { initial: number; final: number; steps: number },
    nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {
    super(COSINE_DECAY_KIND, nonFinite);
  }
  protected base(step: number): number {
    const t = Math.min(step, this.o.steps) / this.o.steps;
    return this.o.final + ((this.o.initial - this.o.final) * (1 + Math.cos(Math.PI * t))) / 2;
  }
  protected options(): Record<string, JsonValue> {
    return { ...this.o };
  }
}

export function cosineDecay(options: CosineDecayOptions): DampingSchedule {
  const where = 'cosineDecay()';
  requireOptions(where, options, 'cosineDecay({ initial: 1e-2, final: 1e-4, steps: 10000 })');
  rejectUnknown(where, options, ['initial', 'final', 'steps', ...NON_FINITE_KEYS]);
  const o = {
    initial: positive(where, 'initial', options.initial, '1e-2'),
    final: positive(where, 'final', options.final, '1e-4'),
    steps: integerAtLeast(where, 'steps', options.steps, 1),
  };
  return new CosineDecay(o, resolveNonFinite(where, options));
}
