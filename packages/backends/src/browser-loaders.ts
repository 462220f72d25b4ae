/**
 * The loaders selectBackend uses where there is no Node: a browser (or a web worker, Deno, Bun in
 * browser mode). A page cannot import a package by name at run time, so these loaders look at what
 * the app has already imported (tfjs-backend-wasm, -webgl and -webgpu register their backends on
 * import), at navigator.gpu and at a throwaway WebGL context (webgl-probe.ts: float16-only and
 * software renderers); the tfjs-node backends are Node-only
 * (@natgrad/backends/node has the loaders that find and import installed packages).
 */
import * as tf from '@tensorflow/tfjs-core';
import type { BackendName } from './backend-names';
import { type BackendLoader, type LoaderContext, firstLine, unavailable } from './loader-types';
import type { ProbeEnvironment } from './probe-environment';
import { adapterIdentity, adapterLabel } from './software-adapter';
import type { DeviceAdapter } from './webgpu-device';
import { webglLoadResult } from './webgl-probe';
import { registerNatgradWebgpu, softwareVerdict } from './webgpu-registration';

const nodeOnly =
  (pkg: string): BackendLoader =>
  async () =>
    unavailable(`${pkg} runs in Node only (there, import selectBackend from '@natgrad/backends/node')`);

interface NavigatorGpu {
  requestAdapter(): Promise<unknown>;
}

function navigatorGpu(): NavigatorGpu | undefined {
  const gpu = (globalThis as { navigator?: { gpu?: NavigatorGpu } }).navigator?.gpu;
  return gpu != null && typeof gpu.requestAdapter === 'function' ? gpu : undefined;
}

const webgpuLoader: BackendLoader = async ({ allowSoftwareAdapter = false, webgpuBackendClass }) => {
  const gpu = navigatorGpu();
  if (gpu === undefined) return unavailable('navigator.gpu is absent (no WebGPU in this browser, or it is turned off)');
  const ownDevice = webgpuBackendClass === undefined;
  if (ownDevice && tf.findBackendFactory('webgpu') == null) {
    return unavailable(
      "@tensorflow/tfjs-backend-webgpu is not imported: import { WebGPUBackend } from it and pass selectBackend({ webgpu: { backendClass: WebGPUBackend } })",
    );
  }
  // Asked for in both cases: tfjs-backend-webgpu's own factory fails on a null adapter with a
  // TypeError, and a software adapter must be skipped whoever creates the device.
  let adapter: unknown;
  try {
    adapter = await gpu.requestAdapter();
  } catch (error) {
    return unavailable(`navigator.gpu.requestAdapter() failed: ${firstLine(error)}`);
  }
  if (adapter == null) return unavailable('no WebGPU adapter: navigator.gpu.requestAdapter() returned null');
  const identity = adapterIdentity(adapter);
  const { skip, note } = softwareVerdict(identity, allowSoftwareAdapter);
  if (skip !== undefined) return skip;
  if (ownDevice) {
    // The app imported tfjs-backend-webgpu but gave natgrad no class: its own device is used.
    return {
      available: true,
      tfBackend: 'webgpu',
      reason: `WebGPU adapter "${adapterLabel(identity)}" with tfjs-backend-webgpu's own device (WebGPU's default limits, device errors not reported; pass webgpu.backendClass for natgrad's device)${note}`,
    };
  }
  registerNatgradWebgpu(adapter as DeviceAdapter, webgpuBackendClass);
  return { available: true, tfBackend: 'webgpu', reason: `WebGPU adapter "${adapterLabel(identity)}" via navigator.gpu${note}` };
};

// Asking for webgl by name accepts a software renderer, as for webgpu adapters.
const webglLoader: BackendLoader = async ({ allowSoftwareAdapter = false }) => webglLoadResult(allowSoftwareAdapter);

const wasmLoader: BackendLoader = async () =>
  tf.findBackendFactory('wasm') == null
    ? unavailable("@tensorflow/tfjs-backend-wasm is not imported (import it before selectBackend, and call its setWasmPaths when a bundler moves the .wasm files)")
    : { available: true, tfBackend: 'wasm', reason: '@tensorflow/tfjs-backend-wasm (imported by the app)' };

export const cpuLoader: BackendLoader = async () =>
  tf.findBackendFactory('cpu') == null
    ? unavailable("no 'cpu' backend is registered (import @tensorflow/tfjs, or @tensorflow/tfjs-backend-cpu beside @tensorflow/tfjs-core)")
    : { available: true, tfBackend: 'cpu', reason: 'pure-JavaScript reference backend (always present, slowest)' };

export const browserLoaders: Readonly<Record<BackendName, BackendLoader>> = {
  'tensorflow-gpu': nodeOnly('@tensorflow/tfjs-node-gpu'),
  webgpu: webgpuLoader,
  webgl: webglLoader,
  tensorflow: nodeOnly('@tensorflow/tfjs-node'),
  wasm: wasmLoader,
  cpu: cpuLoader,
};

/** No package lookup in a browser: the browser loaders never ask, custom loaders get this. */
const browserEnvironment: ProbeEnvironment = {
  packageDir: () => undefined,
  readDir: () => [],
  importModule: (specifier) => import(/* @vite-ignore */ specifier),
};

export const browserContext: LoaderContext = { env: browserEnvironment, dawnOptions: [], allowSoftwareAdapter: false };
