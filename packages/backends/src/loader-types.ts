/**
 * The shape of a backend probe, shared by the browser loaders (browser-loaders.ts) and the Node
 * ones (node/loaders.ts). A loader checks that what its backend needs is present, loads it, and
 * says in one line why it is or is not usable. Loaders never throw for an absent or broken
 * installation (the selector turns "unavailable" into a fallback or a NatgradError); they register
 * the tfjs backend but do not activate it, which is the selector's job.
 */
import type { ProbeEnvironment } from './probe-environment';
import type { WebgpuBackendClass } from './webgpu-device';

export type LoadResult = { available: true; tfBackend: string; reason: string } | { available: false; reason: string };

export interface LoaderContext {
  env: ProbeEnvironment;
  /** Options passed to Dawn's create() in Node, e.g. ['backend=vulkan']. */
  dawnOptions: string[];
  /**
   * Whether a software WebGPU adapter or WebGL renderer (lavapipe, SwiftShader: a GPU emulated on
   * the CPU) counts as available. selectBackend sets it only for an explicit prefer 'webgpu' or
   * 'webgl': in 'auto' such a device would win over wasm and train several times slower.
   */
  allowSoftwareAdapter?: boolean;
  /**
   * tfjs-backend-webgpu's WebGPUBackend class, for the browser, where natgrad cannot import a
   * package by name: with it the browser loader builds natgrad's device (adapter limits,
   * DEVICE_ERROR); without it the loader uses the device tfjs-backend-webgpu registered itself.
   */
  webgpuBackendClass?: WebgpuBackendClass;
}

export type BackendLoader = (context: LoaderContext) => Promise<LoadResult>;

export const unavailable = (reason: string): LoadResult => ({ available: false, reason });

/** First line of an error, so a failed native load reads as one line, not a stack dump. */
export function firstLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split('\n').find((line) => line.trim() !== '') ?? 'unknown error';
}
