/**
 * What the browser and the Node WebGPU loaders share once they hold an adapter: whether a software
 * adapter counts (softwareVerdict) and the registration of tfjs's 'webgpu' backend on natgrad's
 * device (webgpu-device.ts) in place of the factory tfjs-backend-webgpu registered on import.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type LoadResult, unavailable } from './loader-types';
import { type AdapterIdentity, adapterLabel, softwareAdapterReason } from './software-adapter';
import { type DeviceAdapter, type WebgpuBackendClass, createWebgpuBackend } from './webgpu-device';

/** unavailable() for a software adapter in 'auto', or the note an explicit choice carries. */
export function softwareVerdict(identity: AdapterIdentity, allowed: boolean): { skip?: LoadResult; note: string } {
  const why = softwareAdapterReason(identity);
  if (why === undefined) return { note: '' };
  const what = `WebGPU adapter "${adapterLabel(identity)}" is a software device (${why})`;
  if (!allowed) {
    return { skip: unavailable(`${what}: skipped, it trains slower than wasm on the same CPU; selectBackend({ prefer: 'webgpu' }) or --backend webgpu takes it anyway`), note: '' };
  }
  return { note: `; a software device (${why}), far slower than a GPU` };
}

/**
 * Registers tfjs's 'webgpu' backend on natgrad's device. A backend already created is kept:
 * replacing it would dispose every tensor on it (selectBackend may be called more than once).
 */
export function registerNatgradWebgpu(adapter: DeviceAdapter, WebGPUBackend: WebgpuBackendClass): void {
  if ((tf.engine().registry as Record<string, unknown>).webgpu != null) return;
  if (tf.findBackendFactory('webgpu') != null) tf.removeBackend('webgpu');
  tf.registerBackend('webgpu', () => createWebgpuBackend(adapter, WebGPUBackend), 3);
}
