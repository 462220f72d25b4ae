// A separate file on purpose: vitest runs each file in its own process, and this one never
// imports @tensorflow/tfjs-backend-wasm, so no wasm kernel is registered.
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { installWasmTrainingKernels } from './wasm-training-kernels';

describe('installWasmTrainingKernels without the wasm backend', () => {
  it('says to import @tensorflow/tfjs-backend-wasm', () => {
    let error: unknown;
    try {
      installWasmTrainingKernels();
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(NatgradError);
    expect((error as NatgradError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as NatgradError).fix).toMatch(/import '@tensorflow\/tfjs-backend-wasm'/);
  });
});
