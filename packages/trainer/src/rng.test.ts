import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { Rng } from './rng';

describe('Rng', () => {
  it('is reproducible from a seed and from a saved state', () => {
    const a = new Rng(42);
    const b = new Rng(42);
    const first = [a.nextUint32(), a.nextUint32(), a.nextUint32()];
    expect([b.nextUint32(), b.nextUint32(), b.nextUint32()]).toEqual(first);
    const saved = a.getState();
    const next = [a.nextFloat(), a.nextSeed()];
    const c = new Rng(7);
    c.setState(saved);
    expect([c.nextFloat(), c.nextSeed()]).toEqual(next);
    expect(new Rng(43).nextUint32()).not.toBe(first[0]);
  });

  it('draws permutations of 0..n-1 and roughly uniform floats', () => {
    const rng = new Rng(1);
    const p = Array.from(rng.permutation(50));
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(p).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    let sum = 0;
    for (let i = 0; i < 10000; i++) {
      const f = rng.nextFloat();
      expect(f).toBeGreaterThanOrEqual(0);
      expect(f).toBeLessThan(1);
      sum += f;
    }
    expect(sum / 10000).toBeCloseTo(0.5, 1);
  });

  it('rejects bad seeds and states', () => {
    expect(() => new Rng(1.5)).toThrow(NatgradError);
    expect(() => new Rng(0).setState(-1)).toThrow(/unsigned 32-bit/);
  });
});
