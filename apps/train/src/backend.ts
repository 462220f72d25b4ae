/**
 * Backend choice for the CLI: @natgrad/backends' selectBackend with a probe environment that
 * also works inside the single-file bundle. There, `require.resolve` finds no node_modules and a
 * dynamic import of a package name fails, so the backends this app ships (wasm, webgpu with Dawn)
 * are imported through literal specifiers esbuild can follow; tfjs-node(-gpu) stay external and
 * are still resolved from the working directory. The WebGPU adapter is first asked for in a child
 * process (Dawn's native stderr stays there); in the bundle that child loads the dawn.node shipped
 * beside natgrad.cjs, the same file the bundled `webgpu` loads. Failures come back as one line per
 * backend.
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BackendName, type BackendSelection, type ProbeEnvironment, nodeEnvironment, selectBackend } from '@natgrad/backends/node';
import { NatgradError } from '@natgrad/core';
import type { BackendName as BackendFlag } from './flags/train-flags';

/** Packages this app can always import, whether from node_modules or from inside the bundle. */
const SHIPPED: Record<string, () => Promise<unknown>> = {
  '@tensorflow/tfjs-backend-wasm': () => import('@tensorflow/tfjs-backend-wasm'),
  '@tensorflow/tfjs-backend-webgpu': () => import('@tensorflow/tfjs-backend-webgpu'),
  webgpu: () => import('webgpu'),
};

/**
 * dawn.node where the bundled `webgpu` computes it (dist/<platform>-<arch>/ beside the bundle's
 * own file), when this code runs from a bundle; undefined in a source checkout.
 */
function bundledDawn(): string | undefined {
  const arch = process.platform === 'darwin' ? 'universal' : process.arch;
  const file = join(dirname(fileURLToPath(import.meta.url)), 'dist', `${process.platform}-${arch}`, 'dawn.node');
  return existsSync(file) ? file : undefined;
}

export const appProbeEnvironment: ProbeEnvironment = nodeEnvironment({ modules: SHIPPED, dawnEntry: bundledDawn() });

export async function chooseBackend(prefer: BackendFlag, environment: ProbeEnvironment = appProbeEnvironment): Promise<BackendSelection> {
  try {
    return await selectBackend({ prefer: prefer as BackendName | 'auto', environment });
  } catch (error) {
    // Same facts, but the fix names the CLI flag rather than the library option.
    if (error instanceof NatgradError && error.code === 'BACKEND_UNAVAILABLE') {
      throw new NatgradError('BACKEND_UNAVAILABLE', `--backend ${prefer}: ${error.message.split('\n')[0]}.`, {
        expected: error.expected,
        received: error.received,
        fix: `${error.fix.replace(/, or use selectBackend\(\{ prefer: 'auto' \}\)$/, '')}; or pass --backend auto to use the fastest backend that loads`,
      });
    }
    throw error;
  }
}

/** "backend: wasm (...reason...)" plus, for auto, why the faster ones were skipped. */
export function describeSelection(sel: BackendSelection): string[] {
  const lines = [`backend: ${sel.name} (${sel.reason})`];
  for (const a of sel.attempts) if (!a.available) lines.push(`  skipped ${a.name}: ${a.reason}`);
  return lines;
}
