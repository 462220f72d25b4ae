/**
 * The Node loaders: each finds its backend's package where Node would (from this package and from
 * the working directory), imports it, and says in one line why it is or is not usable. tfjs-node
 * is checked for its native binding, WebGPU is Dawn (npm webgpu) with the adapter asked for in a
 * child process first, wasm is imported by name. The browser's loaders are ../browser-loaders.ts.
 */
import * as tf from '@tensorflow/tfjs-core';
import { join } from 'node:path';
import type { BackendName } from '../backend-names';
import { cpuLoader } from '../browser-loaders';
import { type BackendLoader, type LoaderContext, firstLine, unavailable } from '../loader-types';
import type { ProbeEnvironment } from '../probe-environment';
import { adapterIdentity, adapterLabel } from '../software-adapter';
import type { DeviceAdapter, WebgpuBackendClass } from '../webgpu-device';
import { registerNatgradWebgpu, softwareVerdict } from '../webgpu-registration';
import { nodeProbeEnvironment } from './probe-environment';

/** The native binding of tfjs-node(-gpu) lives in lib/napi-v<N>/tfjs_binding.node. */
export function findTfjsNodeBinding(env: ProbeEnvironment, packageDir: string): string | undefined {
  const lib = join(packageDir, 'lib');
  for (const entry of env.readDir(lib).filter((e) => /^napi-v\d+$/.test(e)).sort()) {
    if (env.readDir(join(lib, entry)).includes('tfjs_binding.node')) return join(lib, entry, 'tfjs_binding.node');
  }
  return undefined;
}

function tfjsNodeLoader(pkg: '@tensorflow/tfjs-node' | '@tensorflow/tfjs-node-gpu'): BackendLoader {
  const needs = pkg.endsWith('-gpu') ? ' (it needs CUDA 11.2 and cuDNN 8 on the library path)' : '';
  return async ({ env }) => {
    const dir = env.packageDir(pkg);
    if (dir === undefined) return unavailable(`${pkg} is not installed`);
    const binding = findTfjsNodeBinding(env, dir);
    if (binding === undefined) {
      return unavailable(
        `${pkg} is installed but its native binding lib/napi-v*/tfjs_binding.node is missing (its install script could not download libtensorflow)`,
      );
    }
    try {
      await env.importModule(pkg);
    } catch (error) {
      return unavailable(`${pkg} failed to load${needs}: ${firstLine(error)}`);
    }
    if (tf.findBackendFactory('tensorflow') == null) {
      return unavailable(
        `${pkg} loaded but registered no 'tensorflow' backend with this copy of tfjs-core (install it at the same version as @tensorflow/tfjs, 4.22.0)`,
      );
    }
    return { available: true, tfBackend: 'tensorflow', reason: `${pkg} loaded (${binding})` };
  };
}

interface DawnModule {
  create(options: string[]): { requestAdapter(): Promise<unknown> };
  globals: Record<string, unknown>;
}

const noAdapter = (dawnOptions: string[]): string =>
  `no WebGPU adapter: Dawn [${dawnOptions.join(', ')}] found no GPU (needs a GPU and its driver, e.g. libvulkan.so.1 on Linux)`;

const webgpuLoader: BackendLoader = async ({ env, dawnOptions, allowSoftwareAdapter = false }) => {
  for (const pkg of ['webgpu', '@tensorflow/tfjs-backend-webgpu']) {
    if (env.packageDir(pkg) === undefined) return unavailable(`${pkg} is not installed`);
  }
  // Ask a child first: on a box without a GPU it takes Dawn's native stderr lines with it.
  const probe = await env.probeWebgpuAdapter?.(dawnOptions);
  if (probe !== undefined && probe.outcome !== 'adapter') {
    const said = probe.nativeMessage === undefined ? '' : `; Dawn said: ${probe.nativeMessage}`;
    return unavailable(probe.outcome === 'failed' ? `Dawn (npm webgpu) failed to start: ${probe.error}${said}` : `${noAdapter(dawnOptions)}${said}`);
  }
  // A software adapter seen by the child is skipped before Dawn starts in this process.
  if (probe !== undefined) {
    const { skip } = softwareVerdict(probe, allowSoftwareAdapter);
    if (skip !== undefined) return skip;
  }
  let dawn: DawnModule;
  let gpu: ReturnType<DawnModule['create']>;
  let adapter: unknown;
  try {
    dawn = (await env.importModule('webgpu')) as DawnModule;
    gpu = dawn.create(dawnOptions);
    adapter = await gpu.requestAdapter();
  } catch (error) {
    return unavailable(`Dawn (npm webgpu) failed to start: ${firstLine(error)}`);
  }
  if (adapter == null) {
    return unavailable(noAdapter(dawnOptions));
  }
  const identity = adapterIdentity(adapter);
  const { skip, note } = softwareVerdict(identity, allowSoftwareAdapter);
  if (skip !== undefined) return skip;
  // tfjs-backend-webgpu reads navigator.gpu and the GPU* enum globals (GPUBufferUsage, ...).
  Object.assign(globalThis, dawn.globals);
  const g = globalThis as { navigator?: object };
  g.navigator ??= {};
  Object.defineProperty(g.navigator, 'gpu', { value: gpu, configurable: true, writable: true });
  let backendModule: { WebGPUBackend?: WebgpuBackendClass };
  try {
    backendModule = (await env.importModule('@tensorflow/tfjs-backend-webgpu')) as typeof backendModule;
  } catch (error) {
    return unavailable(`@tensorflow/tfjs-backend-webgpu failed to load: ${firstLine(error)}`);
  }
  if (typeof backendModule.WebGPUBackend !== 'function') {
    return unavailable('@tensorflow/tfjs-backend-webgpu loaded but exports no WebGPUBackend class (install version 4.22.0, as @tensorflow/tfjs)');
  }
  registerNatgradWebgpu(adapter as DeviceAdapter, backendModule.WebGPUBackend);
  return {
    available: true,
    tfBackend: 'webgpu',
    reason: `WebGPU adapter "${adapterLabel(identity)}" via Dawn [${dawnOptions.join(', ')}]${note}`,
  };
};

const wasmLoader: BackendLoader = async ({ env }) => {
  const pkg = '@tensorflow/tfjs-backend-wasm';
  if (env.packageDir(pkg) === undefined) return unavailable(`${pkg} is not installed`);
  try {
    await env.importModule(pkg);
  } catch (error) {
    return unavailable(`${pkg} failed to load: ${firstLine(error)}`);
  }
  // tfjs turns wasm threads off in Node; SIMD is what decides XNNPACK's speed there.
  const simd = await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT');
  return {
    available: true,
    tfBackend: 'wasm',
    reason: `${pkg} loaded (XNNPACK, SIMD ${simd ? 'on' : 'off'}, single-threaded in Node)`,
  };
};

const webglLoader: BackendLoader = async () =>
  unavailable("WebGL runs in browsers only (Node has no WebGL context; here use webgpu, tensorflow or wasm)");

export const nodeLoaders: Readonly<Record<BackendName, BackendLoader>> = {
  'tensorflow-gpu': tfjsNodeLoader('@tensorflow/tfjs-node-gpu'),
  webgpu: webgpuLoader,
  webgl: webglLoader,
  tensorflow: tfjsNodeLoader('@tensorflow/tfjs-node'),
  wasm: wasmLoader,
  cpu: cpuLoader,
};

export const nodeContext: LoaderContext = { env: nodeProbeEnvironment, dawnOptions: ['backend=vulkan'], allowSoftwareAdapter: false };
