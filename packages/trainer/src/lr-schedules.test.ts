import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { ReduceLROnPlateau, constant, cosineDecay, exponentialDecay, linearScaling, linearWarmup, stepDecay } from './lr-schedules';

describe('learning-rate schedules', () => {
  it('constant and step decay', () => {
    expect(constant(0.1)(123)).toBe(0.1);
    const s = stepDecay({ initial: 1, factor: 0.5, every: 10 });
    expect([s(0), s(9), s(10), s(25)]).toEqual([1, 1, 0.5, 0.25]);
    const m = stepDecay({ initial: 1, factor: 0.1, milestones: [3, 5] });
    expect([m(2), m(3), m(4), m(5)].map((v) => Number(v.toPrecision(6)))).toEqual([1, 0.1, 0.1, 0.01]);
    expect(() => stepDecay({ initial: 1, factor: 0.1, milestones: [5, 3] })).toThrow(NatgradError);
    expect(() => stepDecay({ initial: 1, factor: 2, every: 3 })).toThrow(/\(0, 1\]/);
  });

  it('cosine decay follows 0.5 (1 + cos(pi t)) between initial and final', () => {
    const s = cosineDecay({ initial: 1, decaySteps: 100, final: 0.1 });
    expect(s(0)).toBeCloseTo(1, 12);
    expect(s(50)).toBeCloseTo(0.55, 12);
    expect(s(25)).toBeCloseTo(0.1 + 0.45 * (1 + Math.cos(Math.PI / 4)), 12);
    expect(s(100)).toBeCloseTo(0.1, 12);
    expect(s(500)).toBeCloseTo(0.1, 12);
  });

  it('exponential decay, continuous and staircase', () => {
    const s = exponentialDecay({ initial: 2, rate: 0.5, decaySteps: 10 });
    expect(s(5)).toBeCloseTo(2 * 0.5 ** 0.5, 12);
    expect(s(20)).toBeCloseTo(0.5, 12);
    const st = exponentialDecay({ initial: 2, rate: 0.5, decaySteps: 10, staircase: true });
    expect(st(19)).toBe(1);
  });

  it('linear warmup ramps to the wrapped schedule, which then starts from its step 0', () => {
    const s = linearWarmup(stepDecay({ initial: 1, factor: 0.5, every: 10 }), { steps: 4 });
    expect([s(0), s(1), s(2), s(3)]).toEqual([0.25, 0.5, 0.75, 1]);
    expect(s(4)).toBe(1);
    expect(s(14)).toBe(0.5);
    const f = linearWarmup(0.2, { steps: 2, startFactor: 0.5 });
    expect(f(0)).toBeCloseTo(0.15, 12);
    expect(f(1)).toBeCloseTo(0.2, 12);
  });

  it('linear scaling multiplies by batchSize / baseBatchSize', () => {
    expect(linearScaling(0.1, { batchSize: 1024, baseBatchSize: 256 })(7)).toBeCloseTo(0.4, 12);
    expect(() => linearScaling(0.1, { batchSize: 0, baseBatchSize: 256 })).toThrow(NatgradError);
  });

  it('ReduceLROnPlateau reduces after `patience` epochs without improvement, honours cooldown and survives a state round trip', () => {
    const p = new ReduceLROnPlateau({ factor: 0.5, patience: 2, cooldown: 2, minDelta: 0 });
    expect(p.onEpochEnd({ val_loss: 1 })).toBe(false);
    expect(p.onEpochEnd({ val_loss: 0.9 })).toBe(false);
    expect(p.onEpochEnd({ val_loss: 0.95 })).toBe(false);
    expect(p.onEpochEnd({ val_loss: 0.95 })).toBe(true);
    expect(p.scale).toBe(0.5);
    const saved = p.getState();
    expect(p.onEpochEnd({ val_loss: 0.95 })).toBe(false); // cooldown epoch
    const q = new ReduceLROnPlateau({ factor: 0.5, patience: 2, cooldown: 2, minDelta: 0 });
    q.setState(saved);
    expect(q.scale).toBe(0.5);
    expect(q.onEpochEnd({ val_loss: 0.95 })).toBe(false);
    expect(q.onEpochEnd({ val_loss: 0.95 })).toBe(false);
    expect(q.onEpochEnd({ val_loss: 0.95 })).toBe(true);
    expect(q.scale).toBe(0.25);
    // Falls back to the training loss without validation data; mode 'max' for accuracies.
    const acc = new ReduceLROnPlateau({ monitor: 'acc', mode: 'max', patience: 1 });
    acc.onEpochEnd({ acc: 0.5 });
    expect(acc.onEpochEnd({ acc: 0.4 })).toBe(true);
    expect(() => acc.onEpochEnd({ loss: 1 })).toThrow(/monitored value/);
    expect(() => new ReduceLROnPlateau({ factor: 1 })).toThrow(NatgradError);
  });
});
