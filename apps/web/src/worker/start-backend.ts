/**
 * Starts the run's backend inside the worker through @natgrad/backends' browser selectBackend:
 * every tfjs backend package is imported (importing registers it), the wasm binaries' URL is set
 * (Vite serves them from /tfjs-wasm/, see vite.config.ts), and WebGPU gets natgrad's device
 * (storage-buffer limit, device errors as DEVICE_ERROR). 'auto' skips software WebGPU adapters and
 * software WebGL (slower than wasm on the same cores), as selectBackend documents; picking one by
 * name takes it. In a worker, WebGL draws on an OffscreenCanvas (tfjs-backend-webgl creates one
 * when there is no document).
 */
import '@tensorflow/tfjs-backend-cpu';
import '@tensorflow/tfjs-backend-webgl';
import { selectBackend } from '@natgrad/backends';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';
import type { BackendAttemptInfo } from './protocol';
import type { PageBackend } from './run-config';

export interface StartedBackend {
  name: string;
  reason: string;
  attempts: BackendAttemptInfo[];
}

export async function startBackend(choice: PageBackend | 'auto', wasmPath: string): Promise<StartedBackend> {
  setWasmPaths(wasmPath);
  const s = await selectBackend({ prefer: choice, webgpu: { backendClass: WebGPUBackend } });
  // Node-only candidates (tfjs-node) are always absent in a page: not worth a line on screen.
  const attempts = s.attempts.filter((a) => !a.name.startsWith('tensorflow'));
  return { name: s.name, reason: s.reason, attempts };
}
