/**
 * Vitest setup: every test file starts on the backend named by NATGRAD_TEST_BACKEND (default
 * 'cpu'). The numerical tests of linalg, curvature, projection, damping and trainer do not pick a
 * backend themselves, so CI's WebGPU tier runs the same tests on a (software) GPU by setting
 * NATGRAD_TEST_BACKEND=webgpu, and the browser tier (vitest.browser.config.ts) runs them in
 * Chromium on webgl or webgpu. Tests that are about one backend (wasm kernels compared with cpu,
 * backend selection) set theirs explicitly. Tolerances read tf.getBackend(): the cpu backend
 * accumulates in float64, the others in float32. In a browser this file runs in the page, so the
 * browser path imports nothing from Node: the browser config passes the backend's name as the
 * constant __NATGRAD_TEST_BACKEND__, and selection goes through @natgrad/backends' main entry.
 */
import * as tf from '@tensorflow/tfjs';
import type { WebgpuBackendClass } from '@natgrad/backends';

/** Replaced by vitest.browser.config.ts (`define`); absent (typeof 'undefined') under Node. */
declare const __NATGRAD_TEST_BACKEND__: string;

const inBrowser = typeof __NATGRAD_TEST_BACKEND__ !== 'undefined';
const wanted = inBrowser ? __NATGRAD_TEST_BACKEND__ : (process.env.NATGRAD_TEST_BACKEND ?? 'cpu');

async function startInNode(): Promise<void> {
  if (wanted !== 'wasm' && wanted !== 'webgpu') {
    throw new Error(`NATGRAD_TEST_BACKEND must be cpu, wasm or webgpu; received '${wanted}'`);
  }
  // selectBackend installs natgrad's wasm training kernels and WebGPU device handling, as users get.
  const { selectBackend } = await import('@natgrad/backends/node');
  await selectBackend({ prefer: wanted });
}

async function startInBrowser(): Promise<void> {
  const { selectBackend } = await import('@natgrad/backends');
  if (wanted === 'webgl') {
    // @tensorflow/tfjs registered tfjs-backend-webgl; by name, a software renderer is accepted.
    await selectBackend({ prefer: 'webgl' });
  } else if (wanted === 'webgpu') {
    // Put there by scripts/browser-tests/page-setup.ts (the root does not depend on tfjs-backend-webgpu).
    const backendClass = (globalThis as Record<symbol, unknown>)[Symbol.for('natgrad.test.WebGPUBackend')] as WebgpuBackendClass | undefined;
    if (backendClass === undefined) throw new Error('scripts/browser-tests/page-setup.ts did not run before this setup file');
    await selectBackend({ prefer: 'webgpu', webgpu: { backendClass } });
  } else {
    throw new Error(`NATGRAD_TEST_BACKEND must be cpu, webgl or webgpu in a browser; received '${wanted}'`);
  }
}

// At the top level, not in a beforeAll: a setup file finishes before the test file is imported,
// so tensors a test module builds at import time already live on the chosen backend.
async function startBackend(): Promise<void> {
  if (wanted === 'cpu') {
    await tf.setBackend('cpu');
    return;
  }
  await (inBrowser ? startInBrowser() : startInNode());
  if (tf.getBackend() !== wanted) throw new Error(`NATGRAD_TEST_BACKEND=${wanted}, but the active backend is '${tf.getBackend()}'`);
  // tfjs-webgpu and tfjs-webgl run small ops whose inputs still live on the CPU (fresh
  // tf.tensor()s) with the cpu kernels. Tests build their inputs that way, so without this the
  // tier would exercise cpu kernels; in training the gradients already live on the GPU.
  if (wanted === 'webgpu') tf.env().set('WEBGPU_CPU_FORWARD', false);
  if (wanted === 'webgl') tf.env().set('WEBGL_CPU_FORWARD', false);
}

await startBackend();
