/**
 * Fills the wasm backend's training gaps (tfjs 4.22): registers the missing Conv2DBackpropFilter
 * kernel, routes Conv2DBackpropInput through XNNPACK's conv2d, wraps BatchMatMul so transpose flags
 * never reach the slow wasm path, copies Slice/SplitV straight from the heap, and replaces the
 * BatchMatMul gradient with the explicit-transpose one. Registration is global to the tfjs engine,
 * so every replacement computes exactly what the stock one does (tests compare them on cpu and
 * wasm); it only changes speed, or turns a "kernel not found" error into a result.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { batchMatMulGradConfig } from './matmul-gradient';
import { processSingleton } from './process-singleton';
import { conv2dBackpropFilterKernel } from './wasm-conv2d-backprop-filter';
import { conv2dBackpropInputKernel } from './wasm-conv2d-backprop-input';
import { explicitTransposeMatMul } from './wasm-matmul-kernel';
import { heapSliceKernel, heapSplitVKernel } from './wasm-slice';

/** What installWasmTrainingKernels changed (or found already in place) in the tfjs registries. */
export interface WasmTrainingKernelsReport {
  conv2dBackpropFilter: 'registered' | 'already-installed' | 'stock-present';
  conv2dBackpropInputKernel: 'wrapped' | 'already-installed';
  batchMatMulKernel: 'wrapped' | 'already-installed';
  sliceKernels: 'wrapped' | 'already-installed';
  batchMatMulGradient: 'registered' | 'already-installed';
}

/** Shared by every copy of this module in the process, so no kernel is wrapped twice (process-singleton.ts). */
const installed = processSingleton('installedKernels', () => new WeakSet<tf.KernelFunc>());

/**
 * Idempotent. Needs the wasm kernels registered, i.e. `import '@tensorflow/tfjs-backend-wasm'`
 * first (selectBackend does that); it may run before or after tf.setBackend('wasm').
 */
export function installWasmTrainingKernels(): WasmTrainingKernelsReport {
  const matMul = tf.getKernel('BatchMatMul', 'wasm');
  const transpose = tf.getKernel('Transpose', 'wasm');
  const inputGrad = tf.getKernel('Conv2DBackpropInput', 'wasm');
  if (matMul === undefined || transpose === undefined || inputGrad === undefined) {
    throw new NatgradError('BACKEND_UNAVAILABLE', 'The wasm backend is not loaded', {
      expected: 'the kernels of @tensorflow/tfjs-backend-wasm registered with tfjs',
      received: 'no wasm BatchMatMul/Transpose/Conv2DBackpropInput kernel',
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

  let inputKernelState: WasmTrainingKernelsReport['conv2dBackpropInputKernel'] = 'already-installed';
  if (!installed.has(inputGrad.kernelFunc)) {
    const kernelFunc = conv2dBackpropInputKernel(inputGrad.kernelFunc, 'wasm');
    installed.add(kernelFunc);
    tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
    tf.registerKernel({ ...inputGrad, kernelFunc });
    inputKernelState = 'wrapped';
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

  let sliceKernels: WasmTrainingKernelsReport['sliceKernels'] = 'already-installed';
  for (const [name, wrap] of [
    ['Slice', heapSliceKernel],
    ['SplitV', heapSplitVKernel],
  ] as const) {
    const stock = tf.getKernel(name, 'wasm');
    if (stock === undefined || installed.has(stock.kernelFunc)) continue;
    const kernelFunc = wrap(stock.kernelFunc);
    installed.add(kernelFunc);
    tf.unregisterKernel(name, 'wasm');
    tf.registerKernel({ ...stock, kernelFunc });
    sliceKernels = 'wrapped';
  }

  let batchMatMulGradient: WasmTrainingKernelsReport['batchMatMulGradient'] = 'already-installed';
  if (tf.getGradient('BatchMatMul') !== batchMatMulGradConfig) {
    tf.registerGradient(batchMatMulGradConfig);
    batchMatMulGradient = 'registered';
  }
  return { conv2dBackpropFilter, conv2dBackpropInputKernel: inputKernelState, batchMatMulKernel, sliceKernels, batchMatMulGradient };
}
