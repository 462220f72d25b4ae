/**
 * selectBackend for Node: the walk of ../select-backend.ts with the Node loaders, which find
 * tfjs-node(-gpu), Dawn (npm webgpu) with tfjs-backend-webgpu, and tfjs-backend-wasm where Node
 * would, import them, and fall back past anything absent or broken.
 */
import type { BackendSelection, SelectBackendOptions } from '../select-backend';
import { selectBackendWith } from '../select-backend';
import { nodeContext, nodeLoaders } from './loaders';

/** Picks the fastest usable backend in Node and activates it (see SelectBackendOptions). */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendSelection> {
  return selectBackendWith({ loaders: nodeLoaders, context: nodeContext }, options);
}
