/**
 * Test-only: runs a check again on a WebGPU device with WebGPU's DEFAULT limits (8 storage buffers
 * per shader stage). natgrad's selectBackend raises that limit to the adapter's (lavapipe offers
 * 16, many GPUs 8 to 10), so on CI's software GPU an op with 8 or more inputs (tf.addN) would pass
 * although it returns garbage on hardware that keeps 8; on this device it fails validation and the
 * next read throws DEVICE_ERROR. Off WebGPU it runs nothing. The same helper as curvature's
 * src/testing/default-limits.ts (packages do not import each other's test code).
 */
import * as tf from '@tensorflow/tfjs';
import { type DeviceAdapter, type WebgpuBackendClass, createWebgpuBackend } from '@natgrad/backends';

const NAME = 'natgrad-webgpu-default-limits-damping';

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
