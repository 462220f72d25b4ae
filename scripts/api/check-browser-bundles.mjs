// Bundles every browser-facing entry of the library packages from its built dist/ file with
// esbuild (platform=browser, minified, the tfjs peers bundled in, as an app's bundler would) and
// fails when an entry pulls in a Node built-in (fs, child_process, worker_threads, ...), which
// makes it unusable in a page. Prints each entry's minified and gzipped size. Needs `pnpm build`.
// The ./node subpaths are Node-only by design and are skipped.
//
//   node scripts/api/check-browser-bundles.mjs [--json out.json]
import { existsSync, writeFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { relative, resolve as resolvePath } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { libraryEntries, root } from './entries.mjs';

const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));
const jsonOut = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;

/**
 * esbuild leaves a Node built-in unresolved on platform=browser unless a package's "browser" field
 * maps it away (tfjs-core and seedrandom do, for util and crypto): such an import is an error.
 */
function describeErrors(error) {
  return (error.errors ?? [{ text: error.message }]).map((e) => {
    const where = e.location ? ` (in ${relative(root, resolvePath(root, e.location.file))})` : '';
    const builtin = /Could not resolve "([^"]+)"/.exec(e.text)?.[1];
    return builtins.has(builtin) ? `Node built-in ${builtin}${where}` : `${e.text}${where}`;
  });
}

const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
const results = [];
let failed = 0;
for (const entry of libraryEntries().filter((e) => !e.node)) {
  if (!existsSync(entry.js)) {
    results.push({ entry: entry.specifier, ok: false, error: `${relative(root, entry.js)} is missing: run pnpm build first` });
    failed++;
    continue;
  }
  try {
    const out = await build({
      entryPoints: [entry.js],
      bundle: true,
      platform: 'browser',
      format: 'esm',
      minify: true,
      write: false,
      logLevel: 'silent',
    });
    const bytes = out.outputFiles[0].contents;
    results.push({ entry: entry.specifier, ok: true, minified: bytes.length, gzip: gzipSync(bytes).length });
  } catch (error) {
    failed++;
    results.push({ entry: entry.specifier, ok: false, errors: describeErrors(error) });
  }
}

for (const r of results) {
  const size = r.minified === undefined ? '' : `${kb(r.minified).padStart(10)} min ${kb(r.gzip).padStart(9)} gzip`;
  console.log(`${r.ok ? 'ok  ' : 'FAIL'} ${r.entry.padEnd(30)} ${size}`);
  if (r.error) console.log(`       ${r.error}`);
  for (const e of r.errors ?? []) console.log(`       ${e}`);
}
console.log(`${results.length - failed} entries bundle for the browser, ${failed} failed`);
if (jsonOut) writeFileSync(jsonOut, `${JSON.stringify(results, null, 2)}\n`);
process.exit(failed === 0 ? 0 : 1);
