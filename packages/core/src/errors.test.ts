import { describe, expect, it } from 'vitest';
import { NatgradError, describeValue } from './errors';

describe('NatgradError', () => {
  it('formats expected / received / fix and keeps a stable code', () => {
    const err = new NatgradError('SHAPE_MISMATCH', 'Matrix is not square.', {
      expected: 'a square matrix',
      received: 'shape [3,4]',
      fix: 'pass A^T A',
    });
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('SHAPE_MISMATCH');
    expect(err.message).toContain('expected: a square matrix');
    expect(err.message).toContain('received: shape [3,4]');
    expect(err.message).toContain('fix: pass A^T A');
    expect(err.name).toBe('NatgradError');
  });

  it('describes values for the received field', () => {
    expect(describeValue(Number.NaN)).toBe('NaN');
    expect(describeValue({ shape: [2, 3] })).toBe('tensor of shape [2,3]');
    expect(describeValue([1, 2])).toBe('array of length 2');
    expect(describeValue('x')).toBe('"x"');
    expect(describeValue(undefined)).toBe('undefined');
  });
});
