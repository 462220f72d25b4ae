import { describe, expect, it } from 'vitest';
import { finiteExtent, formatTick, linePath, linearScale, logScale, logTicks, niceTicks } from './scale';

describe('chart scales', () => {
  it('finiteExtent ignores NaN and Infinity (a skipped step) and widens a single value', () => {
    expect(finiteExtent([2, Number.NaN, 0.5, Number.POSITIVE_INFINITY])).toEqual([0.5, 2]);
    expect(finiteExtent([Number.NaN])).toBeNull();
    expect(finiteExtent([3, 3])).toEqual([2.7, 3.3]);
    expect(finiteExtent([0])).toEqual([-1, 1]);
    expect(finiteExtent([-1, 0, 4], true)).toEqual([4 / 2, 4 * 2]);
  });

  it('niceTicks steps by 1, 2 or 5 times a power of ten and stays inside the range', () => {
    expect(niceTicks(0, 1, 5)).toEqual([0, 0.2, 0.4, 0.6, 0.8, 1]);
    expect(niceTicks(0.13, 0.87, 4)).toEqual([0.2, 0.4, 0.6, 0.8]);
    expect(niceTicks(0, 950, 4)).toEqual([0, 500]);
    expect(niceTicks(-3, 3, 3)).toEqual([-2, 0, 2]);
    expect(niceTicks(1, 1)).toEqual([]);
  });

  it('logTicks lists the decades, or linear ticks inside one decade', () => {
    expect(logTicks(0.005, 20)).toEqual([0.01, 0.1, 1, 10]);
    expect(logTicks(2, 8)).toEqual(niceTicks(2, 8, 4));
  });

  it('maps domains to pixel ranges (y inverted as SVG draws) linearly and logarithmically', () => {
    const sy = linearScale([0, 10], [100, 0]);
    expect(sy(0)).toBe(100);
    expect(sy(2.5)).toBe(75);
    const ly = logScale([0.01, 100], [0, 400]);
    expect(ly(1)).toBeCloseTo(200, 9);
    expect(ly(-1)).toBeNaN();
  });

  it('linePath breaks at missing points', () => {
    const id = (v: number) => v;
    const path = linePath(
      [
        { x: 0, y: 1 },
        { x: 1, y: 2 },
        { x: 2, y: Number.NaN },
        { x: 3, y: 4 },
      ],
      id,
      id,
    );
    expect(path).toBe('M0.0,1.0L1.0,2.0M3.0,4.0');
  });

  it('formats ticks compactly', () => {
    expect(formatTick(0.001)).toBe('1e-3');
    expect(formatTick(12000)).toBe('1.2e4');
    expect(formatTick(0.25)).toBe('0.25');
    expect(formatTick(0)).toBe('0');
  });
});
