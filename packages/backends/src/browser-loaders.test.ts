// The browser-safe selectBackend of the main entry, with navigator.gpu simulated: what a page gets
// without Node's package lookups (the Node selection is tested in node/select-backend.test.ts).
import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { browserContext, browserLoaders } from './browser-loaders';
import { selectBackend } from './select-backend';
import type { WebgpuBackendClass } from './webgpu-device';

/** Never constructed in these tests: the adapter is refused before a device is made. */
const NeverBackend = class {} as unknown as WebgpuBackendClass;

afterEach(() => {
  vi.unstubAllGlobals();
});

describe('browser loaders (main entry)', () => {
  it('refuses the tfjs-node backends and names the Node entry', async () => {
    for (const name of ['tensorflow', 'tensorflow-gpu'] as const) {
      const result = await browserLoaders[name](browserContext);
      expect(result.available).toBe(false);
      expect(result.reason).toMatch(/runs in Node only .*'@natgrad\/backends\/node'/);
    }
  });

  it('webgpu: absent navigator.gpu, no adapter, and a software adapter skipped in auto but taken by name', async () => {
    vi.stubGlobal('navigator', {});
    expect((await browserLoaders.webgpu(browserContext)).reason).toMatch(/navigator\.gpu is absent/);

    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    const none = await browserLoaders.webgpu({ ...browserContext, webgpuBackendClass: NeverBackend });
    expect(none).toEqual({ available: false, reason: 'no WebGPU adapter: navigator.gpu.requestAdapter() returned null' });

    const lavapipe = { info: { vendor: 'mesa', description: 'llvmpipe (LLVM 17.0.6, 256 bits)' }, features: new Set(), limits: {} };
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => lavapipe } });
    const skipped = await browserLoaders.webgpu({ ...browserContext, webgpuBackendClass: NeverBackend });
    expect(skipped.available).toBe(false);
    expect(skipped.reason).toMatch(/software device .*skipped/);

    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => Promise.reject(new Error('denied\nstack')) } });
    expect((await browserLoaders.webgpu({ ...browserContext, webgpuBackendClass: NeverBackend })).reason).toBe('navigator.gpu.requestAdapter() failed: denied');
  });

  it("webgpu without a backendClass (tfjs-backend-webgpu's own device): still asks for the adapter and skips a software one", async () => {
    // On the webgpu tier the test setup registered tfjs-backend-webgpu and runs on it: hide its
    // factory for this test and put it back afterwards, leaving the running backend instance alone.
    const factories = (tf.engine() as unknown as { registryFactory: Record<string, unknown> }).registryFactory;
    const registered = factories.webgpu;
    delete factories.webgpu;
    vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => null } });
    try {
      expect((await browserLoaders.webgpu(browserContext)).reason).toMatch(/tfjs-backend-webgpu is not imported/);
      tf.registerBackend('webgpu', () => {
        throw new Error('not activated in this test');
      });
      expect((await browserLoaders.webgpu(browserContext)).reason).toBe('no WebGPU adapter: navigator.gpu.requestAdapter() returned null');
      const lavapipe = { info: { vendor: 'mesa', description: 'llvmpipe (LLVM 17.0.6, 256 bits)' }, features: new Set(), limits: {} };
      vi.stubGlobal('navigator', { gpu: { requestAdapter: async () => lavapipe } });
      expect((await browserLoaders.webgpu(browserContext)).reason).toMatch(/software device .*skipped/);
      const taken = await browserLoaders.webgpu({ ...browserContext, allowSoftwareAdapter: true });
      expect(taken).toMatchObject({ available: true, tfBackend: 'webgpu' });
      expect(taken.reason).toMatch(/"mesa llvmpipe.*" with tfjs-backend-webgpu's own device .*; a software device/);
    } finally {
      if (registered === undefined) tf.removeBackend('webgpu');
      else factories.webgpu = registered;
    }
  });

  it('wasm is available once the app imported @tensorflow/tfjs-backend-wasm', async () => {
    await import('@tensorflow/tfjs-backend-wasm');
    expect(await browserLoaders.wasm(browserContext)).toEqual({
      available: true,
      tfBackend: 'wasm',
      reason: '@tensorflow/tfjs-backend-wasm (imported by the app)',
    });
  });

  it("selectBackend of the main entry: cpu by name; an explicit 'tensorflow' fails with the install hint", async () => {
    const before = tf.getBackend();
    const sel = await selectBackend({ prefer: 'cpu' });
    expect(sel).toMatchObject({ name: 'cpu', tfBackend: 'cpu' });
    const error = await selectBackend({ prefer: 'tensorflow' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NatgradError);
    expect((error as NatgradError).code).toBe('BACKEND_UNAVAILABLE');
    expect((error as NatgradError).received).toMatch(/Node only/);
    await tf.setBackend(before);
  });
});
