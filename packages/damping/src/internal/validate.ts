/**
 * Argument checks shared by the damping schedules: every bad option fails at construction with a
 * NatgradError naming the schedule, the option, what was expected and how to fix it.
 */
import { NatgradError, describeValue } from '@natgrad/core';

export function invalid(where: string, what: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `${where}: invalid ${what}.`, {
    expected,
    received: describeValue(received),
    fix,
  });
}

export function requireOptions<T extends object>(where: string, options: T | undefined, example: string): T {
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw invalid(where, 'options', 'an options object', options, `call ${example}`);
  }
  return options;
}

export function rejectUnknown(where: string, options: object, known: readonly string[]): void {
  for (const k of Object.keys(options)) {
    if (!known.includes(k)) throw invalid(where, 'option', `one of ${known.join(', ')}`, k, `remove or rename "${k}"`);
  }
}

/** A finite number > 0. */
export function positive(where: string, what: string, value: unknown, example: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw invalid(where, what, 'a finite number > 0', value, `pass e.g. ${what}: ${example}`);
  }
  return value;
}

/** A finite number >= 0. */
export function nonNegative(where: string, what: string, value: unknown, example: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw invalid(where, what, 'a finite number >= 0', value, `pass e.g. ${what}: ${example}`);
  }
  return value;
}

/** An integer >= min. */
export function integerAtLeast(where: string, what: string, value: unknown, min: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min) {
    throw invalid(where, what, `an integer >= ${min}`, value, `pass an integer ${what} >= ${min}`);
  }
  return value;
}

/** A training step: an integer >= 0 (steps count from 0). */
export function checkStep(where: string, step: unknown): number {
  if (typeof step !== 'number' || !Number.isInteger(step) || step < 0) {
    throw invalid(where, 'step', 'an integer >= 0', step, 'pass the 0-based optimisation step counter');
  }
  return step;
}
