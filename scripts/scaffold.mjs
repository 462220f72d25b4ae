// One-off scaffold of the package manifests (kept for reference; edit the manifests directly now).
import { writeFileSync, mkdirSync } from 'node:fs';
const pkgs = {
  core: { desc: 'Shared contracts of natgrad: parameter maps, layer descriptions, curvature, damping, projection and update-rule interfaces, schedules and errors.', entries: { '.': 'index' }, deps: {} },
  linalg: { desc: 'SPD inverse, Cholesky and symmetric eigendecomposition for TensorFlow.js: float64 on the host, Newton-Schulz on the device, native TensorFlow ops when present.', entries: { '.': 'index' }, deps: { '@natgrad/core': 'workspace:*' } },
  backends: { desc: 'Picks and prepares a TensorFlow.js backend (tensorflow-gpu, webgpu, tensorflow, wasm, cpu) and fills the wasm backend\'s training gaps.', entries: { '.': 'index' }, deps: { '@natgrad/core': 'workspace:*' } },
  curvature: { desc: 'Curvature estimators for natural-gradient descent: KFAC (Dense, Conv2D via KFC) and diagonal Fisher.', entries: { '.': 'index', './kfac': 'kfac/index', './diagonal': 'diagonal/index' }, deps: { '@natgrad/core': 'workspace:*', '@natgrad/linalg': 'workspace:*' } },
  damping: { desc: 'Damping schedules for natural-gradient optimizers, including Levenberg-Marquardt adaptation.', entries: { '.': 'index' }, deps: { '@natgrad/core': 'workspace:*' } },
  projection: { desc: 'Gradient projection strategies: Fisher-Orthogonal Projection (FOP), sub-batch averaging, identity.', entries: { '.': 'index', './fop': 'fop/index', './average': 'average/index' }, deps: { '@natgrad/core': 'workspace:*' } },
  trainer: { desc: 'A natural-gradient Trainer around an ordinary tf.LayersModel: layer capture, composition of curvature, damping, projection and update rule, fit/evaluate, checkpoints.', entries: { '.': 'index' }, deps: { '@natgrad/core': 'workspace:*', '@natgrad/curvature': 'workspace:*', '@natgrad/damping': 'workspace:*', '@natgrad/projection': 'workspace:*', '@natgrad/linalg': 'workspace:*' } },
};
for (const [name, p] of Object.entries(pkgs)) {
  const exportsMap = {};
  const entry = [];
  for (const [sub, file] of Object.entries(p.entries)) {
    exportsMap[sub] = { 'natgrad-source': `./src/${file}.ts`, types: `./dist/${file}.d.ts`, import: `./dist/${file}.js` };
    entry.push(`src/${file}.ts`);
  }
  const pkg = {
    name: `@natgrad/${name}`,
    version: '0.1.0',
    description: p.desc,
    license: 'Apache-2.0',
    type: 'module',
    sideEffects: false,
    exports: exportsMap,
    files: ['dist', 'README.md'],
    scripts: {
      build: `tsup ${entry.join(' ')} --format esm --dts --clean --sourcemap --target es2022`,
      typecheck: 'tsc -p tsconfig.json',
      test: `vitest run --root ../.. packages/${name}/`,
    },
    dependencies: p.deps,
    peerDependencies: { '@tensorflow/tfjs': 'catalog:' },
    devDependencies: { '@tensorflow/tfjs': 'catalog:' },
  };
  if (name === 'core') delete pkg.dependencies;
  mkdirSync(`packages/${name}/src`, { recursive: true });
  writeFileSync(`packages/${name}/package.json`, JSON.stringify(pkg, null, 2) + '\n');
  writeFileSync(`packages/${name}/tsconfig.json`, JSON.stringify({ extends: '../../tsconfig.base.json', include: ['src', 'bench'] }, null, 2) + '\n');
}
