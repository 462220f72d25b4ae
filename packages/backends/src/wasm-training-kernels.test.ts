import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { describe, expect, it } from 'vitest';
import { batchMatMulGradConfig } from './matmul-gradient';
import { installWasmTrainingKernels } from './wasm-training-kernels';

describe('installWasmTrainingKernels', () => {
  it('fills the gaps once and is idempotent', async () => {
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeUndefined();
    const stockMatMul = tf.getKernel('BatchMatMul', 'wasm')!;
    expect(installWasmTrainingKernels()).toEqual({
      conv2dBackpropFilter: 'registered',
      conv2dBackpropInputKernel: 'wrapped',
      batchMatMulKernel: 'wrapped',
      sliceKernels: 'wrapped',
      batchMatMulGradient: 'registered',
    });
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
    const wrapped = tf.getKernel('BatchMatMul', 'wasm')!;
    expect(wrapped.kernelFunc).not.toBe(stockMatMul.kernelFunc);
    // The wasm export binding of the stock kernel is kept, so a later backend init still sets it up.
    expect(wrapped.setupFunc).toBe(stockMatMul.setupFunc);
    expect(tf.getGradient('BatchMatMul')).toBe(batchMatMulGradConfig);

    expect(installWasmTrainingKernels()).toEqual({
      conv2dBackpropFilter: 'already-installed',
      conv2dBackpropInputKernel: 'already-installed',
      batchMatMulKernel: 'already-installed',
      sliceKernels: 'already-installed',
      batchMatMulGradient: 'already-installed',
    });
    expect(tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc).toBe(wrapped.kernelFunc);
  });

  it('works when installed before the wasm backend is initialised', async () => {
    // The install above ran before any setBackend('wasm'); the first use initialises it now.
    expect(await tf.setBackend('wasm')).toBe(true);
    const y = tf.tidy(() => tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 1, 1], [2, 2]), true, false));
    expect(Array.from(y.dataSync())).toEqual([4, 3, 6, 4]);
    y.dispose();
  });
});
