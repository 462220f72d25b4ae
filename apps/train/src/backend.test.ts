import type { ProbeEnvironment } from '@natgrad/backends';
import { NatgradError } from '@natgrad/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { appProbeEnvironment, chooseBackend, describeSelection } from './backend';

/** An environment where only the listed packages exist; imports of others fail like Node's. */
function onlyInstalled(names: string[], brokenImport: string[] = []): ProbeEnvironment {
  return {
    packageDir: (n) => (names.includes(n) ? `/fake/node_modules/${n}` : undefined),
    readDir: () => [],
    importModule: async (s) => {
      if (brokenImport.includes(s)) throw new Error(`libcudart.so.11.0: cannot open shared object file\n    at Module._load (node:internal)`);
      return appProbeEnvironment.importModule(s);
    },
  };
}

describe('backend selection for the CLI', () => {
  it('falls back to cpu when no faster backend package is installed, and says why', async () => {
    const sel = await chooseBackend('auto', onlyInstalled([]));
    expect(sel.name).toBe('cpu');
    expect(tf.getBackend()).toBe('cpu');
    const lines = describeSelection(sel);
    expect(lines[0]).toMatch(/^backend: cpu \(/);
    expect(lines.slice(1)).toEqual([
      '  skipped tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed',
      '  skipped webgpu: webgpu is not installed',
      '  skipped webgl: WebGL runs in browsers only (Node has no WebGL context; here use webgpu, tensorflow or wasm)',
      '  skipped tensorflow: @tensorflow/tfjs-node is not installed',
      '  skipped wasm: @tensorflow/tfjs-backend-wasm is not installed',
    ]);
  });

  it('turns an explicitly requested, missing or half-installed backend into one clear error naming the flag', async () => {
    await expect(chooseBackend('tensorflow-gpu', onlyInstalled([]))).rejects.toThrow(/--backend tensorflow-gpu: .*not available/);
    try {
      await chooseBackend('tensorflow-gpu', onlyInstalled(['@tensorflow/tfjs-node-gpu']));
      throw new Error('expected a failure');
    } catch (e) {
      expect(e).toBeInstanceOf(NatgradError);
      const err = e as NatgradError;
      expect(err.code).toBe('BACKEND_UNAVAILABLE');
      expect(err.received).toContain('native binding');
      expect(err.fix).toContain('CUDA 11.2 and cuDNN 8');
      expect(err.fix).toContain('--backend auto');
      expect(err.message).not.toMatch(/\n\s+at /);
    }
  });

  it('reads the shipped backends through literal imports (what the bundle relies on)', async () => {
    expect(appProbeEnvironment.packageDir('@tensorflow/tfjs-backend-wasm')).toBeTruthy();
    expect(appProbeEnvironment.packageDir('@tensorflow/tfjs-node-gpu')).toBeUndefined();
    const sel = await chooseBackend('wasm');
    expect(sel.name).toBe('wasm');
    await tf.setBackend('cpu');
  });
});
