/**
 * natgrad's numerical tests in a real browser: headless Chromium (the system's, driven by
 * playwright; nothing is downloaded) on the backend named by NATGRAD_TEST_BACKEND (webgl, the
 * default here, or webgpu), through @natgrad/backends' browser-safe selectBackend. On CPU-only
 * machines Chromium's WebGL is SwiftShader (float32 render targets) and its WebGPU adapter is
 * SwiftShader over Vulkan: real shaders and real validation, on the CPU.
 *
 *   NATGRAD_TEST_BACKEND=webgl pnpm vitest run --config vitest.browser.config.ts
 *   (CI: bash scripts/browser-tests/run.sh <report.json>)
 *
 * Tests that need Node (files, child processes, worker threads, Dawn) are excluded by name below,
 * each with its reason, never skipped at run time.
 */
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { playwright } from '@vitest/browser-playwright';
import { defineConfig } from 'vitest/config';

const backend = process.env.NATGRAD_TEST_BACKEND ?? 'webgl';
if (backend !== 'webgl' && backend !== 'webgpu' && backend !== 'cpu') {
  throw new Error(`NATGRAD_TEST_BACKEND must be webgl, webgpu or cpu in the browser tier; received '${backend}'`);
}

/** The numerical tests of the backend-independent packages (all of their files not listed in NODE_ONLY). */
export const BROWSER_TESTS = [
  'packages/linalg/src/**/*.test.ts',
  'packages/curvature/src/**/*.test.ts',
  'packages/projection/src/**/*.test.ts',
  'packages/damping/src/**/*.test.ts',
  'packages/trainer/src/**/*.test.ts',
  'packages/backends/src/**/*.browser-spec.ts',
  // Checks of one backend's kernels, where that backend is the tier's.
  `packages/backends/src/**/*.${backend}-spec.ts`,
  // Measurements behind docs/browser-backends.md, only on request (each also checks its bound).
  ...(process.env.NATGRAD_BROWSER_MEASURE === '1' ? ['scripts/browser-tests/*.measure.ts'] : []),
];

/** Test files that cannot run in a page, and why. */
export const NODE_ONLY: Readonly<Record<string, string>> = {
  'packages/curvature/src/kfac/statistics-worker.test.ts': 'KFAC statistics on a worker_threads worker (@natgrad/backends/node)',
  'packages/trainer/src/statistics-worker.test.ts': 'the trainer with a worker_threads statistics worker (@natgrad/backends/node)',
  'packages/trainer/src/statistics-overflow.test.ts': 'statistics worker (worker_threads) overflow handling',
  'packages/trainer/src/readme-example.test.ts': "the README's Node example: createStatisticsWorker from @natgrad/backends/node",
  'packages/trainer/src/checkpoint.test.ts': 'checkpoints written to and read from temporary folders (node:fs)',
  'packages/trainer/src/checkpoint-integrity.test.ts': 'checkpoint files, renames and stale temporary files on disk (node:fs)',
  'packages/trainer/src/lifecycle.test.ts': 'a trainer with checkpoints in a temporary folder (node:fs, node:os)',
  'packages/trainer/src/gradients.test.ts': 'runs consumers of tfjs-core in child processes (node:child_process)',
  'packages/trainer/src/webgpu-parity.test.ts': "WebGPU in Node (Dawn, @natgrad/backends/node's selectBackend)",
  'packages/trainer/src/distributed/distributed-components.test.ts':
    'one of its tests saves and loads a distributed checkpoint in a temporary folder (node:fs, node:os)',
};

const chromium = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
// SwiftShader for WebGL on machines without a GPU; WebGPU needs the unsafe flag on Linux and
// Vulkan (Chromium then finds SwiftShader's Vulkan, or the GPU's driver).
const args =
  backend === 'webgpu'
    ? ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-angle=swiftshader', '--enable-unsafe-swiftshader']
    : ['--use-angle=swiftshader', '--enable-unsafe-swiftshader', '--ignore-gpu-blocklist'];

// test/setup-backend.ts imports tfjs-backend-webgpu, a dependency of @natgrad/backends, not of the root.
const fromBackends = createRequire(new URL('./packages/backends/package.json', import.meta.url));
const webgpuPackage = dirname(fromBackends.resolve('@tensorflow/tfjs-backend-webgpu/package.json'));
const wasmPackage = dirname(fromBackends.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
// Tests that compare with the wasm backend need its .wasm files, which the pre-bundled module
// looks for beside itself (node_modules/.vite); the setup points tfjs there (Vite's /@fs/ route).
const wasmFiles = `/@fs${wasmPackage}/dist/`;

export default defineConfig({
  resolve: { conditions: ['natgrad-source'], alias: { '@tensorflow/tfjs-backend-webgpu': webgpuPackage, '@tensorflow/tfjs-backend-wasm': wasmPackage } },
  define: { __NATGRAD_TEST_BACKEND__: JSON.stringify(backend), __NATGRAD_WASM_FILES__: JSON.stringify(wasmFiles) },
  // Pre-bundled once, so the first test file does not trigger a re-optimisation (a page reload).
  optimizeDeps: { include: ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-wasm'] },
  test: {
    include: BROWSER_TESTS,
    exclude: Object.keys(NODE_ONLY),
    setupFiles: ['./scripts/browser-tests/page-setup.ts', './test/setup-backend.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    // One page at a time: the files share the machine's cores, and a software GPU is CPU-bound.
    fileParallelism: false,
    browser: {
      enabled: true,
      headless: true,
      screenshotFailures: false,
      provider: playwright({ launchOptions: { executablePath: chromium, args } }),
      instances: [{ browser: 'chromium' }],
    },
  },
});
