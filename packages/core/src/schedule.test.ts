import { describe, expect, it } from 'vitest';
import { NatgradError } from './errors';
import { factorSizes } from './layers';
import { resolveSchedule } from './schedule';

describe('resolveSchedule', () => {
  it('turns a number into a constant schedule', () => {
    const s = resolveSchedule(0.1);
    expect(s(0)).toBe(0.1);
    expect(s(1000)).toBe(0.1);
  });
  it('passes functions through', () => {
    expect(resolveSchedule((t) => t * 2)(3)).toBe(6);
  });
  it('rejects non-finite constants and non-functions', () => {
    expect(() => resolveSchedule(Number.NaN, 'learning rate')).toThrow(NatgradError);
    expect(() => resolveSchedule('0.1' as unknown as number)).toThrow(/expected: a finite number/);
  });
});

describe('factorSizes', () => {
  it('bias-augments the input factor of dense and conv layers', () => {
    expect(factorSizes({ kind: 'dense', name: 'd', kernel: 'd/kernel', bias: 'd/bias', inputSize: 5, outputSize: 3 })).toEqual({ a: 6, g: 3 });
    expect(
      factorSizes({
        kind: 'conv2d', name: 'c', kernel: 'c/kernel', bias: null, kernelSize: [3, 3], strides: [1, 1], dilation: [1, 1],
        padding: 'same', inChannels: 4, outChannels: 8, inputSize: [6, 6], outputSize: [6, 6],
      }),
    ).toEqual({ a: 36, g: 8 });
  });
});
