/**
 * piecewiseConstant: values[i] for boundaries[i-1] <= t < boundaries[i] (values[0] before the
 * first boundary, the last value from the last boundary on). The switch happens AT a boundary
 * step, so `{ boundaries: [100], values: [1e-2, 1e-3] }` uses 1e-3 from step 100.
 */
import type { DampingSchedule, JsonValue } from '@natgrad/core';
import { FixedSchedule, NON_FINITE_KEYS, type NonFiniteOptions, resolveNonFinite } from './internal/fixed-schedule';
import { invalid, positive, rejectUnknown, requireOptions } from './internal/validate';

export const PIECEWISE_CONSTANT_KIND = 'natgrad.damping/piecewise-constant';

export interface PiecewiseConstantOptions extends NonFiniteOptions {
  /** Strictly increasing integer steps >= 1. */
  boundaries: number[];
  /** One more value than boundaries, each > 0. */
  values: number[];
}

class PiecewiseConstant extends FixedSchedule {
  readonly name = 'piecewiseConstant';
  constructor(
    private readonly o: { boundaries: number[]; values: number[] },
    nonFinite: { nonFiniteFactor: number; maxBoost: number },
  ) {
    super(PIECEWISE_CONSTANT_KIND, nonFinite);
  }
  protected base(step: number): number {
    let i = 0;
    while (i < this.o.boundaries.length && step >= this.o.boundaries[i]) i++;
    return this.o.values[i];
  }
  protected options(): Record<string, JsonValue> {
    return { boundaries: [...this.o.boundaries], values: [...this.o.values] };
  }
}

export function piecewiseConstant(options: PiecewiseConstantOptions): DampingSchedule {
  const where = 'piecewiseConstant()';
  requireOptions(where, options, 'piecewiseConstant({ boundaries: [1000], values: [1e-2, 1e-3] })');
  rejectUnknown(where, options, ['boundaries', 'values', ...NON_FINITE_KEYS]);
  const { boundaries, values } = options;
  if (!Array.isArray(boundaries)) throw invalid(where, 'boundaries', 'an array of steps', boundaries, 'pass e.g. boundaries: [1000]');
  if (!Array.isArray(values) || values.length !== boundaries.length + 1) {
    throw invalid(where, 'values', `an array of ${boundaries.length + 1} values (one more than boundaries)`, values, 'add or remove values');
  }
  boundaries.forEach((b, i) => {
    if (!Number.isInteger(b) || b < 1 || (i > 0 && b <= boundaries[i - 1])) {
      throw invalid(where, 'boundaries', 'strictly increasing integers >= 1', boundaries, 'sort the boundaries and remove duplicates');
    }
  });
  for (const v of values) positive(where, 'values', v, '1e-3');
  return new PiecewiseConstant({ boundaries: [...boundaries], values: [...values] }, resolveNonFinite(where, options));
}
