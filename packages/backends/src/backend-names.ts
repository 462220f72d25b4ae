/**
 * The backends natgrad can run on, in the order `selectBackend({ prefer: 'auto' })` tries them
 * (fastest first), and what each needs, which is what an "unavailable" error tells the user.
 */

export type BackendName = 'tensorflow-gpu' | 'webgpu' | 'webgl' | 'tensorflow' | 'wasm' | 'cpu';

/**
 * Fastest first: native TF on CUDA, WebGPU (Dawn in Node, navigator.gpu in a browser), WebGL
 * (browsers only), native TF on CPU (Node only), XNNPACK wasm, pure JS.
 */
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'webgpu', 'webgl', 'tensorflow', 'wasm', 'cpu'];

export function isBackendName(value: unknown): value is BackendName {
  return typeof value === 'string' && (BACKEND_ORDER as readonly string[]).includes(value);
}

/** One sentence per backend: how to make it available. */
export const INSTALL_HINTS: Readonly<Record<BackendName, string>> = {
  'tensorflow-gpu':
    'install @tensorflow/tfjs-node-gpu@4.22.0 (its install script downloads libtensorflow, so it needs internet) on Linux x64 with an NVIDIA GPU, CUDA 11.2 and cuDNN 8',
  webgpu:
    'install the npm packages webgpu (Dawn for Node) and @tensorflow/tfjs-backend-webgpu@4.22.0, on a machine with a GPU and its Vulkan driver (libvulkan.so.1) on Linux, Metal on macOS or D3D12 on Windows',
  webgl:
    "in a browser, import @tensorflow/tfjs-backend-webgl@4.22.0 (or @tensorflow/tfjs) on a device whose WebGL renders to float32 textures (WebGL 2 with EXT_color_buffer_float); Node has no WebGL",
  tensorflow:
    'install @tensorflow/tfjs-node@4.22.0 (its install script downloads libtensorflow, so it needs internet)',
  wasm: 'install @tensorflow/tfjs-backend-wasm@4.22.0',
  cpu: 'install @tensorflow/tfjs@4.22.0 (the cpu backend is part of it)',
};
