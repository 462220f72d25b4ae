/**
 * No synchronous device-to-host reads in natgrad's sources. On the WebGPU backend in Node,
 * dataSync(), arraySync() and bufferSync() throw (tfjs-webgpu reads synchronously only through an
 * OffscreenCanvas), so every read in packages/*\/src and apps/*\/src must be awaited (data(),
 * array()). Testing helpers count too: the tests run on WebGPU in CI. Test files themselves are
 * not scanned (a test that reads synchronously fails on its own in the WebGPU tier).
 *
 * The few synchronous reads that must stay are host-only data and are listed in ALLOWED with the
 * reason; every other one is reported as file:line. Comments and string literals are blanked
 * before scanning, so a comment that explains why not to call dataSync() does not count.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..');
const SYNC_READ = /\b(dataSync|arraySync|bufferSync)\b/g;

interface Allowed {
  /** Path from the repository root. */
  file: string;
  /** A piece of the line that identifies the read (the line's code, after comments are blanked). */
  snippet: string;
  why: string;
}

const WORKER_ONLY = 'the statistics worker runs only on host backends (wasm, cpu): estimators refuse it elsewhere (UNSUPPORTED_BACKEND)';

const ALLOWED: Allowed[] = [
  {
    file: 'packages/backends/src/host-copy.ts',
    snippet: 'out.set(t.dataSync())',
    why: `copies a tensor for the statistics worker; ${WORKER_ONLY}, and the wasm path copies from the heap`,
  },
  {
    file: 'packages/backends/src/node/statistics-worker-thread.mjs',
    snippet: 'values[key] = average(key).dataSync().slice()',
    why: "the worker thread's own tfjs (cpu or wasm, never WebGPU) returns its averages",
  },
  {
    file: 'packages/backends/src/node/statistics-worker-thread.mjs',
    snippet: 'const values = product.dataSync().slice()',
    why: "the worker thread's own tfjs (cpu or wasm, never WebGPU) returns a product A·V·G",
  },
  {
    file: 'packages/curvature/src/kfac/worker-statistics.ts',
    snippet: 'values[s.keys.a] = new Float32Array(s.a.dataSync())',
    why: `pushFactors copies the KFAC A factors into the worker; ${WORKER_ONLY}`,
  },
  {
    file: 'packages/curvature/src/kfac/worker-statistics.ts',
    snippet: 'values[s.keys.g] = new Float32Array(s.g.dataSync())',
    why: `pushFactors copies the KFAC G factors into the worker; ${WORKER_ONLY}`,
  },
];

/**
 * `source` with comments and the text of string and template literals replaced by spaces
 * (newlines kept, so line numbers stay). `${...}` inside templates stays code. Regular-expression
 * literals are not recognised; a quote inside one could hide code from the scan, never add any.
 */
function blankCommentsAndStrings(source: string): string {
  const out = source.split('');
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  // Stack of open template literals: the brace depth at which each `${` started.
  const templates: number[] = [];
  let depth = 0;
  let i = 0;
  const scanTemplate = (start: number): number => {
    // From just after ` or }: text until the closing ` or the next ${.
    let j = start;
    while (j < source.length) {
      if (source[j] === '\\') j += 2;
      else if (source[j] === '`') {
        blank(start, j);
        return j + 1;
      } else if (source[j] === '$' && source[j + 1] === '{') {
        blank(start, j);
        templates.push(depth);
        depth++;
        return j + 2;
      } else j++;
    }
    blank(start, j);
    return j;
  };
  while (i < source.length) {
    const c = source[i];
    const next = source[i + 1];
    if (c === '/' && next === '/') {
      const end = source.indexOf('\n', i);
      const stop = end === -1 ? source.length : end;
      blank(i, stop);
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = source.indexOf('*/', i + 2);
      const stop = end === -1 ? source.length : end + 2;
      blank(i, stop);
      i = stop;
    } else if (c === '"' || c === "'") {
      let j = i + 1;
      while (j < source.length && source[j] !== c && source[j] !== '\n') j += source[j] === '\\' ? 2 : 1;
      blank(i + 1, j);
      i = j + 1;
    } else if (c === '`') {
      i = scanTemplate(i + 1);
    } else if (c === '{') {
      depth++;
      i++;
    } else if (c === '}') {
      depth--;
      if (templates.length > 0 && templates[templates.length - 1] === depth) {
        templates.pop();
        i = scanTemplate(i + 1);
      } else i++;
    } else i++;
  }
  return out.join('');
}

interface SyncRead {
  file: string;
  line: number;
  code: string;
}

/** Every synchronous read in `source` (after blanking), with its 1-based line. */
function findSyncReads(file: string, source: string): SyncRead[] {
  const lines = blankCommentsAndStrings(source).split('\n');
  const found: SyncRead[] = [];
  lines.forEach((code, index) => {
    if (SYNC_READ.test(code)) found.push({ file, line: index + 1, code: code.trim() });
    SYNC_READ.lastIndex = 0;
  });
  return found;
}

/** .ts/.mts/.mjs files under packages/*\/src and apps/*\/src, except *.test.ts. */
function sourceFiles(): string[] {
  const files: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir)) {
      if (entry === 'node_modules' || entry === 'dist') continue;
      const path = join(dir, entry);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|mts|mjs)$/.test(entry) && !/\.test\.(ts|mts|mjs)$/.test(entry) && !entry.endsWith('.d.ts')) files.push(path);
    }
  };
  for (const group of ['packages', 'apps']) {
    for (const pkg of readdirSync(join(ROOT, group))) {
      const src = join(ROOT, group, pkg, 'src');
      try {
        if (statSync(src).isDirectory()) walk(src);
      } catch {
        // a package without src/
      }
    }
  }
  return files.sort();
}

const isAllowed = (read: SyncRead) => ALLOWED.some((a) => a.file === read.file && read.code.includes(a.snippet));

describe('no synchronous device reads in packages/*/src and apps/*/src', () => {
  const reads = sourceFiles().flatMap((path) => findSyncReads(relative(ROOT, path), readFileSync(path, 'utf8')));

  it('scans the sources (sanity: the allowed host-only reads are found)', () => {
    expect(reads.length).toBeGreaterThanOrEqual(ALLOWED.length);
  });

  it('has no dataSync/arraySync/bufferSync outside the allow-list (await t.data() / t.array() instead)', () => {
    const unlisted = reads.filter((r) => !isAllowed(r)).map((r) => `${r.file}:${r.line}: ${r.code}`);
    expect(unlisted, `synchronous reads throw on WebGPU in Node; make them awaited:\n${unlisted.join('\n')}`).toEqual([]);
  });

  it('lists only reads that still exist, each once (a stale entry would hide a new read)', () => {
    const stale = ALLOWED.filter((a) => reads.filter((r) => r.file === a.file && r.code.includes(a.snippet)).length !== 1).map((a) => `${a.file}: ${a.snippet}`);
    expect(stale).toEqual([]);
  });
});

describe('the scanner', () => {
  it('ignores comments and string text, keeps code and template expressions, keeps line numbers', () => {
    const source = [
      '// t.dataSync() in a line comment',
      '/* block: arraySync()',
      '   bufferSync() */ const a = 1;',
      "const s = 'do not call dataSync()'; const d = \"arraySync\";",
      // biome-ignore lint/suspicious/noTemplateCurlyInString: the scanner's input is source text with a template literal
      'const t = `text dataSync() ${x.dataSync()} more ${`inner arraySync ${y.arraySync()}`}`;',
      'const v = w.bufferSync(); // and a comment',
      "const url = 'http://x'; z.dataSync();",
    ].join('\n');
    const found = findSyncReads('f.ts', source);
    expect(found.map((r) => r.line)).toEqual([5, 6, 7]);
    expect(found[0].code).toMatch(/^const t = `\s+\$\{x\.dataSync\(\)\}\s+\$\{`\s+\$\{y\.arraySync\(\)\}`\}`;$/);
    expect(found[1].code).toBe('const v = w.bufferSync();');
    expect(found[2].code).toMatch(/^const url = ' +'; z\.dataSync\(\);$/);
  });
});
