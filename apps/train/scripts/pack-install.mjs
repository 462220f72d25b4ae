#!/usr/bin/env node
// Packs every publishable package of the checkout (packages/* and the CLI, apps/train: whatever is
// not "private") and installs the tarballs into an empty folder outside the repository, the way a
// user would install them from npm before they are published. `pnpm pack` is what rewrites the
// workspace:/catalog: specifiers to versions and runs each package's prepack (build if stale, strip
// the natgrad-source condition); nothing is read from the checkout after that.
//
//   node apps/train/scripts/pack-install.mjs [--pm npm|pnpm] [--tarballs DIR] [--no-build] CONSUMER_DIR
//
// npm installs the tarballs as given: every @natgrad dependency between them is an exact version
// that the tarball installed at the top level satisfies. pnpm resolves those versions from the
// registry instead (404 before a release), so for pnpm the consumer's package.json maps each
// @natgrad package to its tarball with pnpm.overrides. Prints one JSON line: the folder, the package
// manager and every tarball with its size. Then, for example:
//   cd CONSUMER_DIR && npx natgrad train --epochs 1 --train-size 512 --backend wasm
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

const { values, positionals } = parseArgs({
  options: { pm: { type: 'string', default: 'npm' }, tarballs: { type: 'string' }, 'no-build': { type: 'boolean', default: false } },
  allowPositionals: true,
});
if (positionals.length !== 1 || !['npm', 'pnpm'].includes(values.pm)) {
  process.stderr.write('usage: node apps/train/scripts/pack-install.mjs [--pm npm|pnpm] [--tarballs DIR] [--no-build] CONSUMER_DIR\n');
  process.exit(2);
}
const consumer = resolve(positionals[0]);
if (existsSync(consumer) && readdirSync(consumer).length > 0) {
  process.stderr.write(`pack-install: ${consumer} is not empty; the consumer must start from an empty folder\n`);
  process.exit(2);
}
if (consumer.startsWith(`${root}/`)) {
  process.stderr.write(`pack-install: ${consumer} is inside the checkout, whose node_modules would be found; use a folder outside ${root}\n`);
  process.exit(2);
}

/** Runs a command, its output on stderr so stdout keeps only the JSON summary. */
function sh(cmd, args, cwd) {
  execFileSync(cmd, args, { cwd, stdio: ['ignore', process.stderr, process.stderr] });
}

const packageDirs = ['packages', 'apps']
  .flatMap((group) => readdirSync(join(root, group)).map((name) => join(root, group, name)))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .filter((dir) => JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).private !== true);

// One turbo build first (cached when nothing changed), so the prepacks find dist up to date.
if (!values['no-build']) sh('pnpm', ['build'], root);

const tarballDir = resolve(values.tarballs ?? mkdtempSync(join(tmpdir(), 'natgrad-tarballs-')));
mkdirSync(tarballDir, { recursive: true });
const tarballs = packageDirs.map((dir) => {
  const { name, version } = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  sh('pnpm', ['pack', '--pack-destination', tarballDir], dir);
  const file = join(tarballDir, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`);
  if (!existsSync(file)) throw new Error(`pack-install: pnpm pack of ${name} did not write ${file}`);
  return { name, version, file, bytes: statSync(file).size };
});

mkdirSync(consumer, { recursive: true });
const manifest = { name: 'natgrad-consumer', version: '0.0.0', private: true, type: 'module' };
if (values.pm === 'pnpm') manifest.pnpm = { overrides: Object.fromEntries(tarballs.map((t) => [t.name, `file:${t.file}`])) };
writeFileSync(join(consumer, 'package.json'), `${JSON.stringify(manifest, null, 2)}\n`);
const files = tarballs.map((t) => t.file);
if (values.pm === 'npm') sh('npm', ['install', '--no-audit', '--no-fund', ...files], consumer);
else sh('pnpm', ['add', ...files], consumer);

process.stdout.write(`${JSON.stringify({ consumer, pm: values.pm, tarballs })}\n`);
