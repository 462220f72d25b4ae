/**
 * The side effects a backend probe needs (find an installed package, list a folder, import a
 * module, ask a child process for a WebGPU adapter), behind one small interface so tests can simulate absent, half-installed or broken
 * packages without installing them. The default resolves packages the way Node would from this
 * package and from the working directory (pnpm links peers next to their dependant).
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type WebgpuAdapterProbe, probeWebgpuInChild } from './webgpu-adapter-probe';

export interface ProbeEnvironment {
  /** Root folder of an installed package (the one holding its package.json), or undefined. */
  packageDir(name: string): string | undefined;
  /** Entries of a folder; [] when it does not exist. */
  readDir(dir: string): string[];
  /** Dynamic import; rejects like `import()` does. */
  importModule(specifier: string): Promise<unknown>;
  /**
   * Asks a child process whether Dawn finds an adapter, so Dawn's native stderr lines stay out
   * of this process's output. Optional: without it, Dawn is probed in-process only.
   */
  probeWebgpuAdapter?(dawnOptions: string[]): Promise<WebgpuAdapterProbe>;
}

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
