import { describe, expect, it } from 'vitest';
import { GPU_HOST_MAX_N, HOST_MAX_N, chooseMethod } from './policy';

describe('chooseMethod', () => {
  it('uses the host for small n and blocked above on wasm, and always the host on cpu', () => {
    expect(chooseMethod(HOST_MAX_N, 'wasm').method).toBe('host');
    expect(chooseMethod(HOST_MAX_N + 1, 'wasm').method).toBe('blocked');
    expect(chooseMethod(2048, 'wasm', { operation: 'cholesky' }).method).toBe('blocked');
    expect(chooseMethod(2048, 'cpu').method).toBe('host');
    expect(chooseMethod(2048, 'cpu', { operation: 'cholesky' }).method).toBe('host');
  });

  it('uses Newton–Schulz for inverses on GPU backends above the small-matrix threshold', () => {
    for (const backend of ['webgl', 'webgpu']) {
      expect(chooseMethod(GPU_HOST_MAX_N, backend).method).toBe('host');
      expect(chooseMethod(GPU_HOST_MAX_N + 1, backend).method).toBe('newton-schulz');
      expect(chooseMethod(1024, backend, { operation: 'cholesky' }).method).toBe('blocked');
    }
  });

  it('keeps eigh and solves on the host unless native ops exist, and always gives a reason', () => {
    expect(chooseMethod(1024, 'wasm', { operation: 'eigh' }).method).toBe('host');
    expect(chooseMethod(1024, 'tensorflow', { operation: 'eigh' }).method).toBe('native');
    expect(chooseMethod(8, 'tensorflow', { operation: 'solve' }).method).toBe('native');
    expect(chooseMethod(1024, 'wasm').reason).toMatch(/1024/);
  });
});
