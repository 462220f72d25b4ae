import { describe, expect, it } from 'vitest';
import { rankSeed } from './distributed-step';

describe('rankSeed', () => {
  it('keeps the sub-batch seeds for the first ranks and stays in the sampler range [0, 2^31 - 2] for every other rank', () => {
    // The mixed seed once came out as an unsigned 32-bit value (e.g. 3676567113), which the sampled
    // Fisher refuses: 4-rank FOP with the default sampled Fisher failed at its first step.
    for (const seeds of [[0, 1], [2147483646, 2147483645], [12345, 67890], [7]]) {
      const all = Array.from({ length: 64 }, (_, rank) => rankSeed(seeds, rank));
      expect(all.slice(0, seeds.length)).toEqual(seeds);
      for (const s of all) {
        expect(Number.isInteger(s)).toBe(true);
        expect(s).toBeGreaterThanOrEqual(0);
        expect(s).toBeLessThanOrEqual(2147483646);
      }
      expect(new Set(all).size).toBe(all.length);
    }
  });
});
