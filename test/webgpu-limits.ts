/**
 * Test-only WebGPU limit helpers shared by the packages' tests (one copy; packages do not import
 * each other's test code, so it lives beside the test setup).
 *
 * tfjs-webgpu binds every tf.addN input as a storage buffer of one shader stage, next to the
 * output. WebGPU's default maxStorageBuffersPerShaderStage is 8; natgrad's selectBackend raises it
 * to the adapter's (lavapipe offers 16, many GPUs 8 to 10). So on CI's software GPU an op with 8
 * or more inputs would pass although it returns garbage on hardware that keeps 8:
 * - storageBuffersPerStage() lets a test size its sums past the active device's limit;
 * - onDefaultLimitWebgpu() runs a check again on a device with the DEFAULT limits, where such an
 *   op fails validation and the next read throws DEVICE_ERROR. Off WebGPU both do nothing special.
 */
import * as tf from '@tensorflow/tfjs';
import { type DeviceAdapter, type WebgpuBackendClass, createWebgpuBackend } from '@natgrad/backends';

/** WebGPU's default maxStorageBuffersPerShaderStage, used off WebGPU (where addN has no limit). */
const WEBGPU_DEFAULT_STORAGE_BUFFERS = 8;

/** Storage buffers per shader stage of the active WebGPU device, or WebGPU's default elsewhere. */
export function storageBuffersPerStage(): number {
  const device = (tf.backend() as { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } }).device;
  return device?.limits?.maxStorageBuffersPerShaderStage ?? WEBGPU_DEFAULT_STORAGE_BUFFERS;
}

const NAME = 'natgrad-webgpu-default-limits';

/**
 * When the current backend is 'webgpu': runs `check` on a second WebGPU backend with the default
 * limits, then returns to 'webgpu' and answers true. Otherwise answers false and runs nothing.
 * `check` must create its own tensors (tensors of another backend would be read synchronously).
 */
export async function onDefaultLimitWebgpu(check: () => Promise<void>): Promise<boolean> {
  if (tf.getBackend() !== 'webgpu') return false;
  const gpu = (globalThis as { navigator?: { gpu?: { requestAdapter(): Promise<DeviceAdapter | null> } } }).navigator?.gpu;
  const adapter = await gpu?.requestAdapter();
  if (adapter === null || adapter === undefined) throw new Error('the webgpu backend is active but navigator.gpu gives no adapter');
  // The class of the active backend is tfjs-backend-webgpu's WebGPUBackend.
  const WebGPUBackend = tf.backend().constructor as unknown as WebgpuBackendClass;
  tf.registerBackend(NAME, () => createWebgpuBackend(adapter, WebGPUBackend, { limits: 'default' }));
  // Kernels are registered per backend name: borrow tfjs-webgpu's.
  const kernels = tf.getKernelsForBackend('webgpu');
  for (const kernel of kernels) tf.registerKernel({ ...kernel, backendName: NAME });
  try {
    if (!(await tf.setBackend(NAME))) throw new Error('the default-limits WebGPU backend did not initialise');
    await check();
  } finally {
    await tf.setBackend('webgpu');
    tf.removeBackend(NAME);
    for (const kernel of kernels) tf.unregisterKernel(kernel.kernelName, NAME);
  }
  return true;
}
