// The public entries of the library packages, read from their package.json export maps: one row
// per subpath with its built ESM file and declaration file. Shared by the API report
// (api-report.mjs) and the browser bundle check (check-browser-bundles.mjs).
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** The ESM target of an export entry, whichever shape it has (nested import/types or flat). */
function target(entry, kind) {
  if (typeof entry === 'string') return kind === 'default' ? entry : undefined;
  if (entry.node !== undefined) return target(entry.node, kind);
  const imp = entry.import ?? entry;
  if (typeof imp === 'string') return kind === 'default' ? imp : entry.types;
  return imp[kind] ?? (kind === 'types' ? entry.types : undefined);
}

/**
 * Every code entry of every packages/* package: { pkg, dir, subpath, specifier, js, dts, node }.
 * `node` marks the Node-only entries, which are not meant for browsers: the ./node subpaths, and
 * entries published under the "node" export condition only (@natgrad/comm-mpi: MPI through an FFI),
 * which a browser bundler therefore cannot resolve at all.
 */
export function libraryEntries() {
  const rows = [];
  for (const name of readdirSync(join(root, 'packages')).sort()) {
    const dir = join(root, 'packages', name);
    let manifest;
    try {
      manifest = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
    } catch {
      continue;
    }
    if (manifest.private) continue;
    for (const [subpath, entry] of Object.entries(manifest.exports ?? {})) {
      const js = target(entry, 'default');
      const dts = target(entry, 'types');
      if (js === undefined || dts === undefined || !/\.(m|c)?js$/.test(js)) continue;
      rows.push({
        pkg: manifest.name,
        dir,
        subpath,
        specifier: subpath === '.' ? manifest.name : `${manifest.name}/${subpath.slice(2)}`,
        js: join(dir, js),
        dts: join(dir, dts),
        node: subpath === './node' || subpath.startsWith('./node/') || (typeof entry === 'object' && entry.node !== undefined),
      });
    }
  }
  return rows;
}

/** "@natgrad/curvature/kfac" -> "curvature-kfac" (the report's file name). */
export function reportName(specifier) {
  return specifier.replace(/^@natgrad\//, '').replaceAll('/', '-');
}
