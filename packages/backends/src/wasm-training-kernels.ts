/**
 * Fills the wasm backend's training gaps (tfjs 4.22): registers the missing Conv2DBackpropFilter
 * kernel, wraps BatchMatMul so transpose flags never reach the slow wasm path, and replaces the
 * BatchMatMul gradient with the explicit-transpose one. Registration is global to the tfjs engine,
 * so every replacement computes exactly what the stock one does (tests compare them on cpu and
 * wasm); it only changes speed, or turns a "kernel not found" error into a result.
 */
import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { batchMatMulGradConfig } from './matmul-gradient';
import { conv2dBackpropFilterKernel } from './wasm-conv2d-backprop-filter';
import { explicitTransposeMatMul } from './wasm-matmul-kernel';

/** What installWasmTrainingKernels changed (or found already in place) in the tfjs registries. */
export interface WasmTrainingKernelsReport {
  conv2dBackpropFilter: 'registered' | 'already-installed' | 'stock-present';
  batchMatMulKernel: 'wrapped' | 'already-installed';
  batchMatMulGradient: 'registered' | 'already-installed';
}

const installed = new WeakSet<tf.KernelFunc>();

/**
 * Idempotent. Needs the wasm kernels registered, i.e. `import '@tensorflow/tfjs-backend-wasm'`
 * first (selectBackend does that); it may run before or after tf.setBackend('wasm').
 */
export function installWasmTrainingKernels(): WasmTrainingKernelsReport {
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  if (matMul === undefined || transpose === undefined || tf.getKernel('Conv2D', 'wasm') === undefined) {
    throw new NatgradError('BACKEND_UNAVAILABLE', 'The wasm backend is not loaded', {
      expected: 'the kernels of @tensorflow/tfjs-backend-wasm registered with tfjs',
      received: 'no wasm BatchMatMul/Transpose/Conv2D kernel',
      fix: "add `import '@tensorflow/tfjs-backend-wasm'` before calling installWasmTrainingKernels (or use selectBackend({ prefer: 'wasm' }))",
    });
  }

  let conv2dBackpropFilter: WasmTrainingKernelsReport['conv2dBackpropFilter'];
  const filterKernel = tf.getKernel('Conv2DBackpropFilter', 'wasm');
  if (filterKernel === undefined) {
    const kernelFunc = conv2dBackpropFilterKernel('wasm');
    installed.add(kernelFunc);
    tf.registerKernel({ kernelName: 'Conv2DBackpropFilter', backendName: 'wasm', kernelFunc });
    conv2dBackpropFilter = 'registered';
  } else {
    // A future tfjs-backend-wasm with its own kernel wins over the rewrite.
    conv2dBackpropFilter = installed.has(filterKernel.kernelFunc) ? 'already-installed' : 'stock-present';
  }

  let batchMatMulKernel: WasmTrainingKernelsReport['batchMatMulKernel'] = 'already-installed';
  if (!installed.has(matMul.kernelFunc)) {
    const kernelFunc = explicitTransposeMatMul(matMul.kernelFunc, transpose.kernelFunc);
    installed.add(kernelFunc);
    tf.unregisterKernel('BatchMatMul', 'wasm');
    // setupFunc stays: it binds the wasm export the inner kernel calls, and re-runs if the
    // backend is (re)initialised after this point.
    tf.registerKernel({ ...matMul, kernelFunc });
    batchMatMulKernel = 'wrapped';
  }

  let batchMatMulGradient: WasmTrainingKernelsReport['batchMatMulGradient'] = 'already-installed';
  if (tf.getGradient('BatchMatMul') !== batchMatMulGradConfig) {
    tf.registerGradient(batchMatMulGradConfig);
    batchMatMulGradient = 'registered';
  }
  return { conv2dBackpropFilter, batchMatMulKernel, batchMatMulGradient };
}
