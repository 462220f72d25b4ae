/**
 * The side effects a backend probe needs (find an installed package, list a folder, import a
 * module), behind one small interface so tests can simulate absent, half-installed or broken
 * packages without installing them. The default resolves packages the way Node would from this
 * package and from the working directory (pnpm links peers next to their dependant).
 */
import { readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

export interface ProbeEnvironment {
  /** Root folder of an installed package (the one holding its package.json), or undefined. */
  packageDir(name: string): string | undefined;
  /** Entries of a folder; [] when it does not exist. */
  readDir(dir: string): string[];
  /** Dynamic import; rejects like `import()` does. */
  importModule(specifier: string): Promise<unknown>;
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
};
