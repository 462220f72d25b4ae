/**
 * The side effects a backend probe needs (find an installed package, list a folder, import a
 * module, ask a child process for a WebGPU adapter), behind one small interface so tests can
 * simulate absent, half-installed or broken packages without installing them, and so a bundled
 * app can say which packages it ships. Types only: the Node implementation is
 * nodeEnvironment() in @natgrad/backends/node (node/probe-environment.ts).
 */
import type { AdapterIdentity } from './software-adapter';

/** What a WebGPU adapter probe found (in Node, asked in a child process). */
export type WebgpuAdapterProbe =
  | ({ outcome: 'adapter' } & AdapterIdentity)
  | { outcome: 'no-adapter'; nativeMessage?: string }
  | { outcome: 'failed'; error: string; nativeMessage?: string };

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
