/**
 * Vitest setup: every test file starts on the backend named by NATGRAD_TEST_BACKEND (default
 * 'cpu'). The numerical tests of linalg, curvature, projection, damping and trainer do not pick a
 * backend themselves, so CI's WebGPU tier runs the same tests on a (software) GPU by setting
 * NATGRAD_TEST_BACKEND=webgpu. Tests that are about one backend (wasm kernels compared with cpu,
 * backend selection) set theirs explicitly. Tolerances read tf.getBackend(): the cpu backend
 * accumulates in float64, the others in float32.
 */
import * as tf from '@tensorflow/tfjs';

const wanted = process.env.NATGRAD_TEST_BACKEND ?? 'cpu';

// At the top level, not in a beforeAll: a setup file finishes before the test file is imported,
// so tensors a test module builds at import time already live on the chosen backend.
async function startBackend(): Promise<void> {
  if (wanted === 'cpu') {
    await tf.setBackend('cpu');
    return;
  }
  if (wanted !== 'wasm' && wanted !== 'webgpu') {
    throw new Error(`NATGRAD_TEST_BACKEND must be cpu, wasm or webgpu; received '${wanted}'`);
  }
  // selectBackend installs natgrad's wasm training kernels and WebGPU device handling, as users get.
  const { selectBackend } = await import('@natgrad/backends/node');
  await selectBackend({ prefer: wanted });
  // tfjs-webgpu runs small ops whose inputs still live on the CPU (fresh tf.tensor()s) with the
  // cpu kernels. Tests build their inputs that way, so without this the tier would exercise cpu
  // kernels; in training the gradients already live on the GPU.
  if (wanted === 'webgpu') tf.env().set('WEBGPU_CPU_FORWARD', false);
}

await startBackend();
