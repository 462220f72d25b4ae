// prepack of every published @natgrad package (run by `pnpm pack` / `pnpm publish` in the package
// directory). Two things an unprepared pack gets wrong: without a build the tarball holds only
// package.json and the README, and the exports map still names `natgrad-source` targets under src/
// that are not shipped. So: build when dist/ is missing or older than src/, then write a manifest
// without the source condition, keeping the original for postpack.mjs to restore.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BACKUP_NAME, exportTargets, newestInput, stripCondition } from './manifest.mjs';

const dir = process.cwd();
const manifestPath = join(dir, 'package.json');
const backupPath = join(dir, BACKUP_NAME);

if (existsSync(backupPath)) {
  // A pack that died between prepack and postpack left its original here; the current package.json
  // is the stripped one. Restore first so the source condition is not lost for good.
  renameSync(backupPath, manifestPath);
}

const text = readFileSync(manifestPath, 'utf8');
const manifest = JSON.parse(text);

const targets = exportTargets(manifest).map((t) => join(dir, t));
// package.json is no input here: postpack rewrites it on every pack, which would make every dist stale.
const inputs = Math.max(
  newestInput(join(dir, 'src')),
  ...['tsconfig.json', '../../tsconfig.base.json'].map((f) => statSync(join(dir, f)).mtimeMs),
);
const missing = targets.filter((t) => !existsSync(t));
const stale = missing.length === 0 && targets.some((t) => statSync(t).mtimeMs < inputs);
if (missing.length > 0 || stale) {
  const why = missing.length > 0 ? `missing ${missing.length} export target(s)` : 'dist older than its sources';
  console.log(`${manifest.name}: building before pack (${why})`);
  // npm_execpath is the package manager running this lifecycle script (pnpm or npm).
  const pm = process.env.npm_execpath;
  if (pm) execFileSync(process.execPath, [pm, 'run', 'build'], { cwd: dir, stdio: 'inherit' });
  else execFileSync('pnpm', ['run', 'build'], { cwd: dir, stdio: 'inherit' });
  const still = targets.filter((t) => !existsSync(t));
  if (still.length > 0) {
    throw new Error(`${manifest.name}: the build did not produce ${still.join(', ')}; fix the build script or the exports map`);
  }
}

writeFileSync(backupPath, text);
// The repository's own scripts (build, typecheck, test, bench) name src/, bench/ and the source
// condition; a consumer can run none of them. Only this pack's own hooks stay (postpack must run).
const hooks = Object.fromEntries(Object.entries(manifest.scripts ?? {}).filter(([name]) => name === 'prepack' || name === 'postpack'));
const packed = { ...manifest, exports: stripCondition(manifest.exports), scripts: hooks };
writeFileSync(manifestPath, `${JSON.stringify(packed, null, 2)}\n`);
