/**
 * constant(lambda): the same damping at every step (ASDL's and kfac-pytorch's default policy),
 * raised persistently after non-finite steps (see internal/fixed-schedule.ts).
 */
import type { DampingSchedule, JsonValue } from '@natgrad/core';
import { FixedSchedule, NON_FINITE_KEYS, type NonFiniteOptions, resolveNonFinite } from './internal/fixed-schedule';
import { positive, rejectUnknown, requireOptions } from './internal/validate';

export const CONSTANT_KIND = 'natgrad.damping/constant';

class ConstantDamping extends FixedSchedule {
  readonly name = 'constant';
  constructor(
    private readonly lambda: number,
    nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {
    super(CONSTANT_KIND, nonFinite);
  }
  protected base(): number {
    return this.lambda;
  }
  protected options(): Record<string, JsonValue> {
    return { value: this.lambda };
  }
}

export function constant(value: number, options: NonFiniteOptions = {}): DampingSchedule {
  const where = 'constant()';
  positive(where, 'value', value, '1e-3');
  rejectUnknown(where, requireOptions(where, options, 'constant(1e-3)'), NON_FINITE_KEYS);
  return new ConstantDamping(value, resolveNonFinite(where, options));
}
