/**
 * The Node ProbeEnvironment (../probe-environment.ts): resolves packages the way Node would from
 * this package and from the working directory (pnpm links peers next to their dependant), imports
 * them by name, and asks a child process for a WebGPU adapter. nodeEnvironment() adapts it for an
 * app bundled into one file, where package names no longer resolve: the app names the modules it
 * ships (imported through literal specifiers its bundler followed) and the Dawn binary it ships.
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { ProbeEnvironment } from '../probe-environment';
import { probeWebgpuInChild } from './webgpu-adapter-probe';

function resolveEntry(base: string, name: string): string | undefined {
  try {
    return createRequire(base).resolve(name);
  } catch {
    return undefined;
  }
}

function resolveFrom(base: string, name: string): string | undefined {
  const require = createRequire(base);
  try {
    return dirname(require.resolve(`${name}/package.json`));
  } catch {
    // Packages with an `exports` map may hide package.json; fall back to the main entry.
  }
  try {
    let dir = dirname(require.resolve(name));
    const marker = join('node_modules', ...name.split('/'));
    while (!dir.endsWith(marker) && dirname(dir) !== dir) dir = dirname(dir);
    return dir.endsWith(marker) ? dir : undefined;
  } catch {
    return undefined;
  }
}

export const nodeProbeEnvironment: ProbeEnvironment = {
  packageDir: (name) => resolveFrom(import.meta.url, name) ?? resolveFrom(join(process.cwd(), 'noop.js'), name),
  readDir: (dir) => {
    try {
      return readdirSync(dir);
    } catch {
      return [];
    }
  },
  importModule: (specifier) => import(/* @vite-ignore */ specifier),
  probeWebgpuAdapter: async (dawnOptions) => {
    const entry = resolveEntry(import.meta.url, 'webgpu') ?? resolveEntry(join(process.cwd(), 'noop.js'), 'webgpu');
    if (entry === undefined) return { outcome: 'failed', error: "the entry file of the 'webgpu' package could not be resolved" };
    return probeWebgpuInChild(entry, dawnOptions);
  },
};

export interface NodeEnvironmentOptions {
  /**
   * Modules the app carries itself, by package name (e.g. a bundle's
   * `{ '@tensorflow/tfjs-backend-wasm': () => import('@tensorflow/tfjs-backend-wasm') }`): they count
   * as installed and are imported through these functions; other names resolve as usual.
   */
  modules?: Record<string, () => Promise<unknown>>;
  /**
   * The file the WebGPU adapter probe child loads: webgpu's entry module or a dawn.node addon (a
   * bundle ships dawn.node beside itself). Default: the installed `webgpu` package's entry.
   */
  dawnEntry?: string;
}

/** The Node environment, with the modules and Dawn binary an app ships itself (see above). */
export function nodeEnvironment(options: NodeEnvironmentOptions = {}): ProbeEnvironment {
  const modules = options.modules ?? {};
  const base = nodeProbeEnvironment;
  return {
    packageDir: (name) => base.packageDir(name) ?? (name in modules ? `<bundled ${name}>` : undefined),
    readDir: (dir) => base.readDir(dir),
    importModule: (specifier) => (modules[specifier] !== undefined ? modules[specifier]() : base.importModule(specifier)),
    probeWebgpuAdapter: async (dawnOptions) =>
      options.dawnEntry !== undefined ? probeWebgpuInChild(options.dawnEntry, dawnOptions) : base.probeWebgpuAdapter!(dawnOptions),
  };
}
