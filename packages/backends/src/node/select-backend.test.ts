import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { afterEach, describe, expect, it } from 'vitest';
import { BACKEND_ORDER, INSTALL_HINTS } from '../backend-names';
import { firstLine } from '../loader-types';
import type { ProbeEnvironment, WebgpuAdapterProbe } from '../probe-environment';
import { findTfjsNodeBinding } from './loaders';
import { selectBackend } from './select-backend';

/** A simulated file system and module table: packages, folder listings and importable modules. */
function fakeEnvironment(spec: {
  packages?: Record<string, string>;
  dirs?: Record<string, string[]>;
  modules?: Record<string, () => Promise<unknown>>;
}): ProbeEnvironment & { imported: string[] } {
  const imported: string[] = [];
  return {
    imported,
    packageDir: (name) => spec.packages?.[name],
    readDir: (dir) => spec.dirs?.[dir] ?? [],
    importModule: async (specifier) => {
      imported.push(specifier);
      const load = spec.modules?.[specifier];
      if (load === undefined) throw new Error(`Cannot find module '${specifier}'`);
      return load();
    },
  };
}

const wasmOnly = {
  packages: { '@tensorflow/tfjs-backend-wasm': '/nm/@tensorflow/tfjs-backend-wasm' },
  modules: { '@tensorflow/tfjs-backend-wasm': () => import('@tensorflow/tfjs-backend-wasm') },
};

/** A tfjs-node(-gpu) installation whose binding exists; `load` plays the package's import. */
function tfjsNodeInstalled(pkg: string, load: () => Promise<unknown>) {
  return {
    packages: { ...wasmOnly.packages, [pkg]: `/nm/${pkg}` },
    dirs: { [`/nm/${pkg}/lib`]: ['napi-v8', 'README'], [`/nm/${pkg}/lib/napi-v8`]: ['tfjs_binding.node'] },
    modules: { ...wasmOnly.modules, [pkg]: load },
  };
}

async function rejection(promise: Promise<unknown>): Promise<NatgradError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NatgradError);
    return error as NatgradError;
  }
  throw new Error('expected a rejection');
}

afterEach(async () => {
  await tf.setBackend('cpu');
  for (const name of ['tensorflow', 'sim-gpu', 'broken']) {
    if (tf.findBackendFactory(name) != null) tf.removeBackend(name);
  }
});

describe('selectBackend with simulated installations', () => {
  it("falls back to wasm when nothing faster is installed, and explains each step", async () => {
    const env = fakeEnvironment(wasmOnly);
    const selection = await selectBackend({ environment: env });
    expect(selection.name).toBe('wasm');
    expect(selection.tfBackend).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(selection.attempts.map((a) => [a.name, a.available])).toEqual([
      ['tensorflow-gpu', false],
      ['webgpu', false],
      ['webgl', false],
      ['tensorflow', false],
      ['wasm', true],
    ]);
    expect(selection.attempts[0].reason).toBe('@tensorflow/tfjs-node-gpu is not installed');
    expect(selection.attempts[1].reason).toBe('webgpu is not installed');
    expect(selection.attempts[2].reason).toMatch(/WebGL runs in browsers only/);
    expect(selection.reason).toMatch(/SIMD (on|off)/);
    // Picking wasm installs the training kernels.
    expect(tf.getKernel('Conv2DBackpropFilter', 'wasm')).toBeDefined();
  });

  it('reports a half-installed tfjs-node-gpu (no native binding) without importing it', async () => {
    const pkg = '@tensorflow/tfjs-node-gpu';
    const env = fakeEnvironment({
      packages: { ...wasmOnly.packages, [pkg]: `/nm/${pkg}` },
      dirs: { [`/nm/${pkg}/lib`]: ['napi-v8'], [`/nm/${pkg}/lib/napi-v8`]: [] },
      modules: wasmOnly.modules,
    });
    const selection = await selectBackend({ environment: env });
    expect(selection.attempts[0].reason).toMatch(/installed but its native binding lib\/napi-v\*\/tfjs_binding.node is missing/);
    expect(env.imported).not.toContain(pkg);
  });

  it('turns a failed native load into one line that names CUDA 11.2 and cuDNN 8', async () => {
    const pkg = '@tensorflow/tfjs-node-gpu';
    const env = fakeEnvironment(
      tfjsNodeInstalled(pkg, async () => {
        throw new Error(
          'libcudart.so.11.0: cannot open shared object file: No such file or directory\n    at Module._extensions..node (node:internal/modules/cjs/loader:1460:18)',
        );
      }),
    );
    const error = await rejection(selectBackend({ prefer: 'tensorflow-gpu', environment: env }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.received).toBe(
      '@tensorflow/tfjs-node-gpu failed to load (it needs CUDA 11.2 and cuDNN 8 on the library path): libcudart.so.11.0: cannot open shared object file: No such file or directory',
    );
    expect(error.fix).toContain(INSTALL_HINTS['tensorflow-gpu']);
    expect(error.fix).toContain('CUDA 11.2');
  });

  it('notices a tfjs-node that registered its backend with another tfjs-core copy', async () => {
    const env = fakeEnvironment(tfjsNodeInstalled('@tensorflow/tfjs-node', async () => ({})));
    const error = await rejection(selectBackend({ prefer: 'tensorflow', environment: env }));
    expect(error.received).toMatch(/registered no 'tensorflow' backend with this copy of tfjs-core/);
  });

  it("selects tensorflow-gpu when the package loads and registers 'tensorflow'", async () => {
    const pkg = '@tensorflow/tfjs-node-gpu';
    const env = fakeEnvironment(
      tfjsNodeInstalled(pkg, async () => {
        // What tfjs-node-gpu's entry does: register the native backend under the name 'tensorflow'.
        tf.registerBackend('tensorflow', tf.findBackendFactory('cpu')!, 3);
        return {};
      }),
    );
    const selection = await selectBackend({ environment: env });
    expect(selection.name).toBe('tensorflow-gpu');
    expect(selection.tfBackend).toBe('tensorflow');
    expect(tf.getBackend()).toBe('tensorflow');
    expect(selection.reason).toBe(`${pkg} loaded (/nm/${pkg}/lib/napi-v8/tfjs_binding.node)`);
    expect(selection.attempts).toHaveLength(1);
  });

  it('passes the Dawn options through and reports a missing GPU adapter', async () => {
    const seen: string[][] = [];
    const env = fakeEnvironment({
      packages: { ...wasmOnly.packages, webgpu: '/nm/webgpu', '@tensorflow/tfjs-backend-webgpu': '/nm/tfjs-backend-webgpu' },
      modules: {
        ...wasmOnly.modules,
        webgpu: async () => ({
          create: (options: string[]) => {
            seen.push(options);
            return { requestAdapter: async () => null };
          },
          globals: {},
        }),
      },
    });
    const error = await rejection(selectBackend({ prefer: 'webgpu', webgpu: { dawnOptions: ['backend=vulkan', 'adapter=x'] }, environment: env }));
    expect(seen).toEqual([['backend=vulkan', 'adapter=x']]);
    expect(error.received).toBe(
      'no WebGPU adapter: Dawn [backend=vulkan, adapter=x] found no GPU (needs a GPU and its driver, e.g. libvulkan.so.1 on Linux)',
    );
    expect(env.imported).not.toContain('@tensorflow/tfjs-backend-webgpu');
  });

  it('reports a Dawn that fails to start', async () => {
    const env = fakeEnvironment({
      packages: { webgpu: '/nm/webgpu', '@tensorflow/tfjs-backend-webgpu': '/nm/x' },
      modules: {
        webgpu: async () => ({
          create: () => {
            throw new Error('no suitable backends found\nAvailable adapters: none');
          },
          globals: {},
        }),
      },
    });
    const error = await rejection(selectBackend({ prefer: 'webgpu', environment: env }));
    expect(error.received).toBe('Dawn (npm webgpu) failed to start: no suitable backends found');
  });

  it('asks the child probe first and never starts Dawn in-process when the child found no adapter', async () => {
    const asked: string[][] = [];
    const env = {
      ...fakeEnvironment({
        packages: { ...wasmOnly.packages, webgpu: '/nm/webgpu', '@tensorflow/tfjs-backend-webgpu': '/nm/x' },
        modules: wasmOnly.modules,
      }),
      probeWebgpuAdapter: async (options: string[]): Promise<WebgpuAdapterProbe> => {
        asked.push(options);
        return { outcome: 'no-adapter', nativeMessage: 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.' };
      },
    };
    const selection = await selectBackend({ environment: env });
    expect(asked).toEqual([['backend=vulkan']]);
    expect(env.imported).not.toContain('webgpu');
    expect(selection.name).toBe('wasm');
    expect(selection.attempts[1]).toEqual({
      name: 'webgpu',
      available: false,
      reason:
        'no WebGPU adapter: Dawn [backend=vulkan] found no GPU (needs a GPU and its driver, e.g. libvulkan.so.1 on Linux); Dawn said: Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.',
    });
    env.probeWebgpuAdapter = async () => ({ outcome: 'failed', error: 'the adapter probe was killed by SIGSEGV without a result' });
    const error = await rejection(selectBackend({ prefer: 'webgpu', environment: env }));
    expect(error.received).toBe('Dawn (npm webgpu) failed to start: the adapter probe was killed by SIGSEGV without a result');
    expect(env.imported).not.toContain('webgpu');
  });

  it('starts Dawn in-process once the child probe reports an adapter', async () => {
    const env = {
      ...fakeEnvironment({
        packages: { webgpu: '/nm/webgpu', '@tensorflow/tfjs-backend-webgpu': '/nm/x' },
        modules: {
          webgpu: async () => ({ create: () => ({ requestAdapter: async () => null }), globals: {} }),
        },
      }),
      probeWebgpuAdapter: async (): Promise<WebgpuAdapterProbe> => ({ outcome: 'adapter', vendor: 'sim' }),
    };
    // The in-process Dawn disagrees with the child here; what counts is that it was asked.
    const error = await rejection(selectBackend({ prefer: 'webgpu', environment: env }));
    expect(env.imported).toContain('webgpu');
    expect(error.received).toMatch(/^no WebGPU adapter: Dawn \[backend=vulkan\] found no GPU/);
  });
});

/** A simulated WebGPU stack whose one adapter identifies itself with `info`. */
function simulatedWebgpu(info: Record<string, unknown>, probe?: WebgpuAdapterProbe) {
  class SimulatedWebgpuBackend extends tf.KernelBackend {
    constructor(readonly device: unknown) {
      super();
    }
    override dispose(): void {}
  }
  const device = { addEventListener: () => {}, lost: new Promise(() => {}), queue: { onSubmittedWorkDone: async () => undefined } };
  const adapter = { info, features: { has: () => false }, limits: { maxStorageBuffersPerShaderStage: 16 }, requestDevice: async () => device };
  const env = {
    ...fakeEnvironment({
      packages: { ...wasmOnly.packages, webgpu: '/nm/webgpu', '@tensorflow/tfjs-backend-webgpu': '/nm/tfjs-backend-webgpu' },
      modules: {
        ...wasmOnly.modules,
        webgpu: async () => ({ create: () => ({ requestAdapter: async () => adapter }), globals: {} }),
        '@tensorflow/tfjs-backend-webgpu': async () => ({ WebGPUBackend: SimulatedWebgpuBackend }),
      },
    }),
    ...(probe === undefined ? {} : { probeWebgpuAdapter: async () => probe }),
  };
  /** Removes the simulated backend (a real one that a WebGPU test run started is kept). */
  const cleanup = () => {
    const registry = tf.engine().registry as Record<string, unknown>;
    if (registry.webgpu instanceof SimulatedWebgpuBackend || (registry.webgpu == null && tf.findBackendFactory('webgpu') != null)) tf.removeBackend('webgpu');
  };
  return { env, cleanup };
}

const lavapipe = {
  vendor: 'mesa',
  architecture: 'software',
  device: 'llvmpipe-llvm-15-0-6-256-bits-',
  description: 'llvmpipe: Mesa 25.0.7-2~bpo12+1 (LLVM 15.0.6) 0.0.1',
  isFallbackAdapter: true,
};

describe('selectBackend and software WebGPU adapters (simulated)', () => {
  it("'auto' skips a software adapter the child probe reports, before Dawn starts in-process, and says why", async () => {
    const { env, cleanup } = simulatedWebgpu(lavapipe, { outcome: 'adapter', ...lavapipe });
    try {
      const selection = await selectBackend({ environment: env });
      expect(selection.name).toBe('wasm');
      const webgpu = selection.attempts.find((a) => a.name === 'webgpu');
      expect(webgpu?.available).toBe(false);
      expect(webgpu?.reason).toBe(
        `WebGPU adapter "mesa ${lavapipe.description}" is a software device (the adapter reports isFallbackAdapter): skipped, it trains slower than wasm on the same CPU; selectBackend({ prefer: 'webgpu' }) or --backend webgpu takes it anyway`,
      );
      expect(env.imported).not.toContain('webgpu');
    } finally {
      cleanup();
    }
  });

  it.each([
    [{ vendor: 'google', architecture: 'swiftshader', description: 'SwiftShader Device (Subzero)' }, 'its description names SwiftShader, a CPU implementation'],
    [{ vendor: 'mesa', architecture: 'software', description: 'lavapipe' }, "its architecture is 'software'"],
    [{ vendor: 'mesa', device: 'llvmpipe (LLVM 19)' }, 'its device names llvmpipe, a CPU implementation'],
  ])("'auto' recognises a software adapter Dawn returns in-process: %j", async (info, why) => {
    const { env, cleanup } = simulatedWebgpu(info);
    try {
      const selection = await selectBackend({ environment: env });
      expect(selection.name).toBe('wasm');
      expect(selection.attempts.find((a) => a.name === 'webgpu')?.reason).toContain(`is a software device (${why}): skipped`);
      expect(env.imported).not.toContain('@tensorflow/tfjs-backend-webgpu');
    } finally {
      cleanup();
    }
  });

  it("an explicit prefer 'webgpu' takes the software adapter, with a note in the reason", async () => {
    const { env, cleanup } = simulatedWebgpu(lavapipe, { outcome: 'adapter', ...lavapipe });
    try {
      const selection = await selectBackend({ prefer: 'webgpu', environment: env });
      expect(selection.name).toBe('webgpu');
      expect(tf.getBackend()).toBe('webgpu');
      expect(selection.reason).toBe(
        `WebGPU adapter "mesa ${lavapipe.description}" via Dawn [backend=vulkan]; a software device (the adapter reports isFallbackAdapter), far slower than a GPU`,
      );
    } finally {
      await tf.setBackend('cpu');
      cleanup();
    }
  });

  it("'auto' takes a hardware adapter, with no note", async () => {
    const { env, cleanup } = simulatedWebgpu({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200' }, { outcome: 'adapter', vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H200', isFallbackAdapter: false });
    try {
      const selection = await selectBackend({ environment: env });
      expect(selection.name).toBe('webgpu');
      expect(selection.reason).toBe('WebGPU adapter "nvidia NVIDIA H200" via Dawn [backend=vulkan]');
    } finally {
      await tf.setBackend('cpu');
      cleanup();
    }
  });
});

describe('selectBackend with injected loaders', () => {
  it('takes the first available backend in order', async () => {
    const selection = await selectBackend({
      loaders: {
        'tensorflow-gpu': async () => ({ available: false, reason: 'simulated: no CUDA' }),
        webgpu: async () => {
          tf.registerBackend('sim-gpu', tf.findBackendFactory('cpu')!);
          return { available: true, tfBackend: 'sim-gpu', reason: 'simulated adapter' };
        },
      },
    });
    expect(selection).toEqual({
      name: 'webgpu',
      tfBackend: 'sim-gpu',
      reason: 'simulated adapter',
      attempts: [
        { name: 'tensorflow-gpu', available: false, reason: 'simulated: no CUDA' },
        { name: 'webgpu', available: true, reason: 'simulated adapter' },
      ],
    });
    expect(tf.getBackend()).toBe('sim-gpu');
  });

  it('falls back past a loader that throws and a backend that fails to initialise', async () => {
    const unavailable = async () => ({ available: false as const, reason: 'simulated absence' });
    const selection = await selectBackend({
      loaders: {
        'tensorflow-gpu': async () => {
          throw new Error('boom\nstack line');
        },
        webgpu: async () => {
          tf.registerBackend('broken', () => {
            throw new Error('device lost');
          });
          return { available: true, tfBackend: 'broken', reason: 'simulated adapter' };
        },
        tensorflow: unavailable,
        wasm: unavailable,
      },
    });
    expect(selection.name).toBe('cpu');
    expect(selection.attempts[0].reason).toBe('probe failed: boom');
    expect(selection.attempts[1]).toEqual({
      name: 'webgpu',
      available: false,
      reason: "simulated adapter, but tf.setBackend('broken') failed to initialise it",
    });
    expect(tf.getBackend()).toBe('cpu');
  });

  it("throws BACKEND_UNAVAILABLE listing every attempt when even 'auto' finds nothing", async () => {
    const none = async () => ({ available: false as const, reason: 'simulated absence' });
    const loaders = Object.fromEntries(BACKEND_ORDER.map((n) => [n, none]));
    const error = await rejection(selectBackend({ loaders }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.received).toBe(BACKEND_ORDER.map((n) => `${n}: simulated absence`).join('; '));
  });
});

describe('selectBackend input validation', () => {
  it('rejects an unknown backend name', async () => {
    const error = await rejection(selectBackend({ prefer: 'cuda' as never }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.received).toBe('"cuda"');
  });

  it('rejects bad Dawn options and loader keys', async () => {
    expect((await rejection(selectBackend({ webgpu: { dawnOptions: 'backend=vulkan' as never } }))).code).toBe('INVALID_ARGUMENT');
    expect((await rejection(selectBackend({ loaders: { gpu: async () => ({ available: false, reason: '' }) } as never }))).code).toBe(
      'INVALID_ARGUMENT',
    );
    expect((await rejection(selectBackend(null as never))).code).toBe('INVALID_ARGUMENT');
  });
});

describe('selectBackend on this machine (real probes)', () => {
  it('activates what it reports, after only unavailable faster backends', async () => {
    const selection = await selectBackend();
    expect(tf.getBackend()).toBe(selection.tfBackend);
    const index = BACKEND_ORDER.indexOf(selection.name);
    expect(selection.attempts.map((a) => a.name)).toEqual(BACKEND_ORDER.slice(0, index + 1));
    for (const attempt of selection.attempts.slice(0, -1)) expect(attempt.available).toBe(false);
    for (const attempt of selection.attempts) {
      expect(attempt.reason.length).toBeGreaterThan(0);
      expect(attempt.reason).not.toContain('\n');
    }
  });

  it('selects cpu explicitly', async () => {
    const selection = await selectBackend({ prefer: 'cpu' });
    expect(selection.tfBackend).toBe('cpu');
    expect(selection.attempts).toHaveLength(1);
  });
});

describe('probe helpers', () => {
  it('finds the binding in the first napi folder that has it', () => {
    const env = fakeEnvironment({
      dirs: { '/p/lib': ['napi-v6', 'napi-v8', 'other'], '/p/lib/napi-v6': [], '/p/lib/napi-v8': ['tfjs_binding.node'] },
    });
    expect(findTfjsNodeBinding(env, '/p')).toBe('/p/lib/napi-v8/tfjs_binding.node');
    expect(findTfjsNodeBinding(env, '/absent')).toBeUndefined();
  });

  it('keeps the first non-empty line of an error', () => {
    expect(firstLine(new Error('\nfirst\nsecond'))).toBe('first');
    expect(firstLine('plain')).toBe('plain');
  });
});
