// Checks one packed tarball as a registry would serve it: its exports have no `natgrad-source`
// condition and no workspace:/catalog: specifier, every file its exports/main/module/types/bin point
// at is inside the tarball, it ships no tests, benches or sources, and it carries a LICENSE and the
// release metadata (license, repository, homepage, bugs, keywords, engines.node). Prints the file count and
// packed size; exits 1 with the reasons on any problem.
import { execFileSync } from 'node:child_process';
import { statSync } from 'node:fs';

const tarball = process.argv[2];
const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' })
  .split('\n')
  .filter(Boolean)
  .map((f) => f.replace(/^package\//, ''));
const pkg = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' }));
const problems = [];

const targets = [];
const walk = (value, path) => {
  if (typeof value === 'string') targets.push([path, value]);
  else if (value && typeof value === 'object') for (const [k, v] of Object.entries(value)) walk(v, `${path}.${k}`);
};
walk(pkg.exports, 'exports');
for (const field of ['main', 'module', 'types']) if (pkg[field]) targets.push([field, pkg[field]]);
walk(typeof pkg.bin === 'string' ? { [pkg.name]: pkg.bin } : pkg.bin, 'bin');
if (JSON.stringify(pkg.exports ?? {}).includes('natgrad-source')) problems.push('exports still name the natgrad-source condition (src/ is not shipped)');
for (const [path, target] of targets) {
  if (!files.includes(target.replace(/^\.\//, ''))) problems.push(`${path} -> ${target} is not in the tarball`);
}
for (const field of ['dependencies', 'peerDependencies', 'optionalDependencies']) {
  for (const [name, spec] of Object.entries(pkg[field] ?? {})) {
    if (/^(workspace|catalog|link|file):/.test(spec)) problems.push(`${field}.${name} is "${spec}"`);
  }
}
const stray = files.filter((f) => /(^|\/)(src|test|bench)\/|\.test\.|\.bench\./.test(f));
if (stray.length > 0) problems.push(`ships sources/tests: ${stray.slice(0, 5).join(', ')}${stray.length > 5 ? ', ...' : ''}`);
if (!files.some((f) => /^LICENSE/i.test(f))) problems.push('no LICENSE file');
// Release metadata a registry page and `npm i` read (the Node floor is what engines enforces).
for (const field of ['license', 'repository', 'homepage', 'bugs', 'keywords', 'engines']) {
  if (pkg[field] === undefined) problems.push(`no "${field}" field`);
}
if (pkg.engines && !pkg.engines.node) problems.push('engines has no "node" floor');

const size = `${files.length} files, ${(statSync(tarball).size / 1024).toFixed(1)} KB packed`;
if (problems.length > 0) {
  console.log(`${pkg.name}: ${size}\n  ${problems.join('\n  ')}`);
  process.exit(1);
}
console.log(`${pkg.name}: ${size}`);
