/**
 * The WebGPU device natgrad trains on, and the tfjs 'webgpu' backend around it.
 *
 * tfjs-backend-webgpu's own registration asks the adapter for a device with six raised limits
 * (workgroup sizes and storage, buffer sizes) but keeps WebGPU's default of 8 storage buffers per
 * shader stage, so any op with 8 or more inputs (tf.addN, tf.concat of many tensors) fails
 * validation on hardware that allows more. natgrad requests the same limits plus the adapter's
 * maxStorageBuffersPerShaderStage, and watches the device for errors (device-errors.ts): the
 * backend's async read() throws NatgradError('DEVICE_ERROR') when the device reported one.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { markDeviceClosing, throwIfDeviceError, watchDeviceErrors } from './device-errors';
import type { ErrorReportingDevice } from './device-errors';

/** The parts of a GPUAdapter used here. */
export interface DeviceAdapter {
  features: { has(name: string): boolean };
  limits: Record<string, number>;
  info?: unknown;
  requestDevice(descriptor: { requiredFeatures: string[]; requiredLimits: Record<string, number> }): Promise<unknown>;
}

/** tfjs-backend-webgpu's WebGPUBackend constructor. */
export type WebgpuBackendClass = new (device: never, adapterInfo?: never) => tf.KernelBackend;

/** Limits tfjs-backend-webgpu 4.22 itself raises to the adapter's (its base.js). */
const TFJS_LIMITS = [
  'maxComputeWorkgroupStorageSize',
  'maxComputeWorkgroupsPerDimension',
  'maxStorageBufferBindingSize',
  'maxBufferSize',
  'maxComputeWorkgroupSizeX',
  'maxComputeInvocationsPerWorkgroup',
] as const;

/** Limits natgrad raises on top: ops with many inputs bind one storage buffer per input. */
const NATGRAD_LIMITS = ['maxStorageBuffersPerShaderStage'] as const;

/** Optional features tfjs-backend-webgpu uses when present (its base.js). */
const TFJS_FEATURES = ['timestamp-query', 'bgra8unorm-storage'] as const;

/**
 * The device descriptor: tfjs's limits and features, plus natgrad's; `limits: 'default'` keeps
 * WebGPU's defaults for natgrad's (tests use it to provoke a validation error).
 */
export function deviceDescriptor(adapter: DeviceAdapter, limits: 'adapter' | 'default' = 'adapter') {
  const names = limits === 'adapter' ? [...TFJS_LIMITS, ...NATGRAD_LIMITS] : TFJS_LIMITS;
  const requiredLimits: Record<string, number> = {};
  for (const name of names) {
    const value = adapter.limits[name];
    if (typeof value === 'number') requiredLimits[name] = value;
  }
  return { requiredFeatures: TFJS_FEATURES.filter((f) => adapter.features.has(f)), requiredLimits };
}

/**
 * A WebGPUBackend on a new device of `adapter`, with natgrad's limits, its errors recorded, and its
 * read() throwing them. Destroying the device on dispose frees the GPU memory at once.
 */
export async function createWebgpuBackend(
  adapter: DeviceAdapter,
  WebGPUBackend: WebgpuBackendClass,
  options: { limits?: 'adapter' | 'default' } = {},
): Promise<tf.KernelBackend> {
  const device = (await adapter.requestDevice(deviceDescriptor(adapter, options.limits))) as ErrorReportingDevice & { destroy?(): void };
  watchDeviceErrors(device);
  const backend = new WebGPUBackend(device as never, adapter.info as never);
  // Every host read of a tensor goes through read() (data(), array(), tf.print...); errors Dawn
  // raised while the ops before it were created or submitted have been delivered by the time the
  // staging buffer is mapped.
  const read = backend.read.bind(backend);
  backend.read = async (dataId) => {
    const values = await read(dataId);
    throwIfDeviceError(device);
    return values;
  };
  const dispose = backend.dispose.bind(backend);
  backend.dispose = () => {
    dispose();
    markDeviceClosing(device);
    device.destroy?.();
  };
  return backend;
}
