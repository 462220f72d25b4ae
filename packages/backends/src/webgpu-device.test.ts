import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { checkWebgpuErrors, takeDeviceError, watchDeviceErrors } from './device-errors';
import { type DeviceAdapter, createWebgpuBackend, deviceDescriptor } from './webgpu-device';

/** A device whose uncaptured errors and loss the test triggers by hand. */
function simulatedDevice() {
  const listeners: ((event: { error: { message?: string } }) => void)[] = [];
  let lose: (info: { reason?: string; message?: string }) => void = () => {};
  const device = {
    addEventListener: (_type: 'uncapturederror', listener: (event: { error: { message?: string } }) => void) => listeners.push(listener),
    lost: new Promise<{ reason?: string; message?: string }>((resolve) => {
      lose = resolve;
    }),
    queue: { onSubmittedWorkDone: async () => undefined },
    destroyed: false,
    destroy() {
      this.destroyed = true;
    },
  };
  const raise = (message: string) => {
    for (const listener of listeners) listener({ error: { message } });
  };
  return { device, raise, lose: (reason: string) => lose({ reason, message: 'gone' }) };
}

const adapterLimits = { maxStorageBuffersPerShaderStage: 16, maxBufferSize: 2 ** 32 - 1, maxComputeWorkgroupSizeX: 1024, maxTextureDimension1D: 8192 };

describe('device errors (simulated device)', () => {
  it('turns an uncaptured validation error into one DEVICE_ERROR with the first line and a fix, then clears it', () => {
    const { device, raise } = simulatedDevice();
    watchDeviceErrors(device);
    expect(takeDeviceError(device)).toBeUndefined();
    raise('The number of storage buffers (10) in the Compute stage exceeds the maximum per-stage limit (8).\n - While validating binding counts');
    raise('[Invalid ComputePipeline "AddNPackedProgram"] is invalid due to a previous error.');
    const error = takeDeviceError(device);
    expect(error).toBeInstanceOf(NatgradError);
    expect(error?.code).toBe('DEVICE_ERROR');
    expect(error?.received).toMatch(/^2 errors: .*exceeds the maximum per-stage limit \(8\)\. \| .*AddNPackedProgram/);
    expect(error?.received).not.toContain('While validating');
    expect(error?.fix).toMatch(/sumTensors/);
    expect(takeDeviceError(device)).toBeUndefined();
  });

  it('reports an unexpected device loss, but not the loss natgrad causes by destroying the device', async () => {
    const lost = simulatedDevice();
    watchDeviceErrors(lost.device);
    lost.lose('unknown');
    await lost.device.lost;
    expect(takeDeviceError(lost.device)?.received).toBe('device lost (unknown): gone');

    const adapter: DeviceAdapter = { features: { has: () => false }, limits: adapterLimits, requestDevice: async () => closing.device };
    const closing = simulatedDevice();
    class Backend extends tf.KernelBackend {
      constructor(readonly device: unknown) {
        super();
      }
      override dispose(): void {}
    }
    const backend = await createWebgpuBackend(adapter, Backend as never);
    backend.dispose();
    expect(closing.device.destroyed).toBe(true);
    closing.lose('destroyed');
    await closing.device.lost;
    expect(takeDeviceError(closing.device)).toBeUndefined();
  });

  it("makes the backend's read throw a recorded error after the values arrive", async () => {
    const sim = simulatedDevice();
    const adapter: DeviceAdapter = { features: { has: () => false }, limits: adapterLimits, requestDevice: async () => sim.device };
    class Backend extends tf.KernelBackend {
      constructor(readonly device: unknown) {
        super();
      }
      override async read(): Promise<Float32Array> {
        return new Float32Array([1]);
      }
    }
    const backend = await createWebgpuBackend(adapter, Backend as never);
    expect(await backend.read({})).toEqual(new Float32Array([1]));
    sim.raise('Out of memory while allocating a buffer');
    const error = await backend.read({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NatgradError);
    expect((error as NatgradError).received).toBe('GPUError: Out of memory while allocating a buffer');
    expect((error as NatgradError).fix).toMatch(/smaller batch/);
    // checkWebgpuErrors waits for the queue and throws what arrived since.
    sim.raise('Internal error');
    await expect(checkWebgpuErrors(backend)).rejects.toMatchObject({ code: 'DEVICE_ERROR' });
    await expect(checkWebgpuErrors(backend)).resolves.toBeUndefined();
  });
});

describe('deviceDescriptor', () => {
  it("raises tfjs-webgpu's limits and natgrad's storage-buffer limit to the adapter's, and only features it has", () => {
    const adapter: DeviceAdapter = { features: { has: (f) => f === 'timestamp-query' }, limits: adapterLimits, requestDevice: async () => ({}) };
    expect(deviceDescriptor(adapter)).toEqual({
      requiredFeatures: ['timestamp-query'],
      requiredLimits: { maxStorageBuffersPerShaderStage: 16, maxBufferSize: 2 ** 32 - 1, maxComputeWorkgroupSizeX: 1024 },
    });
    expect(deviceDescriptor(adapter, 'default').requiredLimits).not.toHaveProperty('maxStorageBuffersPerShaderStage');
  });
});

// The rest needs a real WebGPU device: CI's WebGPU tier (NATGRAD_TEST_BACKEND=webgpu, lavapipe).
const onWebgpu = process.env.NATGRAD_TEST_BACKEND === 'webgpu';

describe.skipIf(!onWebgpu)('natgrad WebGPU device (needs NATGRAD_TEST_BACKEND=webgpu; skipped on other backends)', () => {
  const adapterAndClass = async () => {
    const gpu = (globalThis as unknown as { navigator: { gpu: { requestAdapter(): Promise<DeviceAdapter> } } }).navigator.gpu;
    const { WebGPUBackend } = await import('@tensorflow/tfjs-backend-webgpu');
    return { adapter: await gpu.requestAdapter(), WebGPUBackend };
  };
  const nine = () => Array.from({ length: 9 }, (_, i) => tf.fill([5], i + 1));

  it("runs on a device with the adapter's maxStorageBuffersPerShaderStage: tf.addN of 9 tensors is right", async () => {
    expect(tf.getBackend()).toBe('webgpu');
    const { adapter } = await adapterAndClass();
    const device = (tf.backend() as unknown as { device: { limits: Record<string, number> } }).device;
    expect(device.limits.maxStorageBuffersPerShaderStage).toBe(adapter.limits.maxStorageBuffersPerShaderStage);
    const before = tf.memory().numTensors;
    const inputs = nine();
    const sum = tf.addN(inputs);
    try {
      // 9 inputs + the output: fits only above WebGPU's default of 8 (lavapipe offers 16).
      if (adapter.limits.maxStorageBuffersPerShaderStage >= 10) expect(Array.from(await sum.data())).toEqual([45, 45, 45, 45, 45]);
      await checkWebgpuErrors();
    } finally {
      tf.dispose([...inputs, sum]);
    }
    expect(tf.memory().numTensors).toBe(before);
  });

  it('throws DEVICE_ERROR at the next read when an op fails validation (addN of 9 with the default limit of 8)', async () => {
    const { adapter, WebGPUBackend } = await adapterAndClass();
    const name = 'webgpu-default-limits';
    tf.registerBackend(name, () => createWebgpuBackend(adapter, WebGPUBackend as never, { limits: 'default' }));
    // Kernels are registered per backend name: borrow tfjs-webgpu's.
    const kernels = tf.getKernelsForBackend('webgpu');
    for (const kernel of kernels) tf.registerKernel({ ...kernel, backendName: name });
    try {
      expect(await tf.setBackend(name)).toBe(true);
      const inputs = nine();
      const sum = tf.addN(inputs);
      const error = await sum.data().catch((e: unknown) => e);
      tf.dispose([...inputs, sum]);
      expect(error).toBeInstanceOf(NatgradError);
      expect((error as NatgradError).code).toBe('DEVICE_ERROR');
      expect((error as NatgradError).received).toMatch(/storage buffers \(10\) .* exceeds the maximum per-stage limit \(8\)/);
      // The explicit check finds the same kind of error without a read.
      const again = nine();
      const sum2 = tf.addN(again);
      await expect(checkWebgpuErrors()).rejects.toMatchObject({ code: 'DEVICE_ERROR' });
      tf.dispose([...again, sum2]);
      // Cleared: ops within the limit read normally afterwards.
      const ok = tf.add(tf.scalar(1), tf.scalar(2));
      expect(await ok.data()).toEqual(new Float32Array([3]));
      ok.dispose();
    } finally {
      await tf.setBackend('webgpu');
      tf.removeBackend(name);
      for (const kernel of kernels) tf.unregisterKernel(kernel.kernelName, name);
    }
  });
});
