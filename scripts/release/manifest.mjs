// Shared by prepack.mjs and postpack.mjs: where the packed package keeps its untouched manifest, and
// how the `natgrad-source` export condition is removed from it. That condition points at src/, which
// no tarball ships, so a published package must never carry it (a consumer that enables the
// condition, like this repository's own tsc and vitest, would otherwise resolve to missing files).
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export const SOURCE_CONDITION = 'natgrad-source';
/** The original package.json while a pack is in progress; postpack moves it back. */
export const BACKUP_NAME = 'package.json.prepack';

/** A copy of an exports map (or any nested value) without the source condition, at every depth. */
export function stripCondition(value, condition = SOURCE_CONDITION) {
  if (Array.isArray(value)) return value.map((v) => stripCondition(v, condition));
  if (value === null || typeof value !== 'object') return value;
  const out = {};
  for (const [key, inner] of Object.entries(value)) {
    if (key !== condition) out[key] = stripCondition(inner, condition);
  }
  return out;
}

/** Every file path that a manifest's exports, main, module and types point at, without ./ */
export function exportTargets(manifest) {
  const targets = new Set();
  const walk = (value) => {
    if (typeof value === 'string') targets.add(value.replace(/^\.\//, ''));
    else if (Array.isArray(value)) value.forEach(walk);
    else if (value && typeof value === 'object') Object.values(value).forEach(walk);
  };
  walk(stripCondition(manifest.exports ?? {}));
  for (const field of ['main', 'module', 'types']) if (manifest[field]) walk(manifest[field]);
  return [...targets];
}

/** The newest modification time (ms) of the build inputs under dir: sources, not tests. */
export function newestInput(dir) {
  let newest = 0;
  const visit = (path) => {
    const st = statSync(path);
    if (st.isDirectory()) {
      for (const name of readdirSync(path)) visit(join(path, name));
    } else if (!/\.test\.[cm]?ts$/.test(path)) {
      newest = Math.max(newest, st.mtimeMs);
    }
  };
  visit(dir);
  return newest;
}
