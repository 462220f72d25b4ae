/**
 * Schedules are plain functions of the step (optax style); a number is a constant schedule.
 * Step counts start at 0 for the first optimisation step.
 */
import { NatgradError, describeValue } from './errors';

export type ScheduleFn = (step: number) => number;
export type Schedule = number | ScheduleFn;

/** Turns a Schedule into a function, validating constants eagerly. */
export function resolveSchedule(schedule: Schedule, what = 'schedule'): ScheduleFn {
  if (typeof schedule === 'number') {
    if (!Number.isFinite(schedule)) {
      throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
        expected: 'a finite number or a function (step) => number',
        received: describeValue(schedule),
        fix: `pass a finite ${what}, e.g. 1e-3`,
      });
    }
    return () => schedule;
  }
  if (typeof schedule !== 'function') {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
      expected: 'a finite number or a function (step) => number',
      received: describeValue(schedule),
      fix: `pass a number or a schedule such as cosineDecay(...)`,
    });
  }
  return schedule;
}
