import { NatgradError, type StateDict } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { constant, cosineDecay, dampingFromState, exponentialDecay, piecewiseConstant, stepDecay } from './index';

const roundTrip = (s: StateDict): StateDict => JSON.parse(JSON.stringify(s));

describe('step-driven damping schedules', () => {
  it('constant', () => {
    const d = constant(1e-3);
    expect(d.name).toBe('constant');
    expect(d.value(0)).toBe(1e-3);
    expect(d.value(12345)).toBe(1e-3);
    expect(d.adaptEvery).toBeUndefined();
  });

  it('stepDecay is a staircase with an optional floor', () => {
    const d = stepDecay({ initial: 1, factor: 0.1, every: 100 });
    expect(d.value(0)).toBe(1);
    expect(d.value(99)).toBe(1);
    expect(d.value(100)).toBeCloseTo(0.1, 12);
    expect(d.value(250)).toBeCloseTo(0.01, 12);
    expect(stepDecay({ initial: 1, factor: 0.1, every: 100, min: 0.05 }).value(250)).toBe(0.05);
  });

  it('exponentialDecay is continuous', () => {
    const d = exponentialDecay({ initial: 0.2, rate: 0.5, decaySteps: 10 });
    expect(d.value(0)).toBe(0.2);
    expect(d.value(10)).toBeCloseTo(0.1, 12);
    expect(d.value(5)).toBeCloseTo(0.2 * Math.SQRT1_2, 12);
    expect(exponentialDecay({ initial: 0.2, rate: 0.5, decaySteps: 10, min: 0.15 }).value(10)).toBe(0.15);
  });

  it('cosineDecay goes from initial to final and stays there', () => {
    const d = cosineDecay({ initial: 1, final: 0.01, steps: 100 });
    expect(d.value(0)).toBe(1);
    expect(d.value(50)).toBeCloseTo(0.505, 12);
    expect(d.value(100)).toBeCloseTo(0.01, 12);
    expect(d.value(1000)).toBeCloseTo(0.01, 12);
    expect(d.value(25)).toBeGreaterThan(d.value(26));
  });

  it('piecewiseConstant switches at each boundary step', () => {
    const d = piecewiseConstant({ boundaries: [10, 20], values: [1, 0.1, 0.01] });
    expect([0, 9, 10, 19, 20, 500].map((t) => d.value(t))).toEqual([1, 1, 0.1, 0.1, 0.01, 0.01]);
  });

  it('non-finite steps raise the damping x10, persistently, capped by maxBoost', () => {
    const d = stepDecay({ initial: 1, factor: 0.5, every: 10, maxBoost: 500 });
    d.onNonFiniteStep(3);
    expect(d.value(3)).toBe(10);
    expect(d.value(10)).toBe(5);
    d.onNonFiniteStep(4);
    d.onNonFiniteStep(5);
    expect(d.value(0)).toBe(500);
    const c = constant(0.01, { nonFiniteFactor: 2 });
    c.onNonFiniteStep(0);
    expect(c.value(1)).toBe(0.02);
  });

  it('state round-trips through JSON, rebuilds with dampingFromState, rejects mismatches', () => {
    const schedules = [
      constant(0.02),
      stepDecay({ initial: 1, factor: 0.1, every: 7, min: 1e-4 }),
      exponentialDecay({ initial: 1, rate: 0.3, decaySteps: 9 }),
      cosineDecay({ initial: 1, final: 0.1, steps: 50 }),
      piecewiseConstant({ boundaries: [3, 8], values: [3, 2, 1] }),
    ];
    for (const s of schedules) {
      s.onNonFiniteStep(1);
      const state = roundTrip(s.getState());
      expect(state.tensors).toEqual({});
      const rebuilt = dampingFromState(state);
      expect(rebuilt.name).toBe(s.name);
      for (const t of [0, 4, 8, 40, 400]) expect(rebuilt.value(t)).toBe(s.value(t));
      // Restoring into a fresh schedule with the same options restores the boost.
      const fresh = dampingFromState({ ...state, values: { ...state.values, boost: 1 } });
      expect(fresh.value(0)).toBe(s.value(0) / 10);
      fresh.setState(state);
      expect(fresh.value(0)).toBe(s.value(0));
    }
    expect(() => constant(0.03).setState(constant(0.02).getState())).toThrow(/other options/);
    expect(() => constant(0.02).setState(stepDecay({ initial: 1, factor: 0.1, every: 7 }).getState())).toThrow(
      /not written by this schedule/,
    );
    const bad = constant(0.02).getState();
    bad.values.boost = -3;
    expect(() => constant(0.02).setState(bad)).toThrow(expect.objectContaining({ code: 'CHECKPOINT_CORRUPT' }));
    expect(() => dampingFromState({ kind: 'nope', version: 1, values: {}, tensors: {} })).toThrow(
      expect.objectContaining({ code: 'STATE_MISMATCH' }),
    );
  });

  it('rejects bad options and steps with NatgradError', () => {
    const bad: (() => unknown)[] = [
      () => constant(0),
      () => constant(Number.NaN),
      () => constant(1, { nonFiniteFactor: 1 }),
      () => constant(1, { maxBoost: 0.5 }),
      () => constant(1, { typo: 1 } as never),
      () => stepDecay({ initial: 1, factor: 0.1, every: 0 }),
      () => stepDecay({ initial: 1, factor: -1, every: 5 }),
      () => exponentialDecay({ initial: 1, rate: 0.5, decaySteps: 1.5 }),
      () => cosineDecay({ initial: 1, final: 0, steps: 10 }),
      () => piecewiseConstant({ boundaries: [5, 5], values: [1, 2, 3] }),
      () => piecewiseConstant({ boundaries: [5], values: [1] }),
      () => piecewiseConstant({ boundaries: [0], values: [1, 2] }),
      () => stepDecay(undefined as never),
      () => constant(1).value(-1),
      () => constant(1).value(1.5),
      () => constant(1).onNonFiniteStep(Number.NaN),
    ];
    for (const f of bad) expect(f).toThrow(NatgradError);
  });
});
