#!/usr/bin/env node
// The development launcher of a natgrad checkout (pnpm train, pnpm natgrad, the docs' commands):
// runs the CLI from its TypeScript sources with node + tsx and the `natgrad-source` export
// condition, so the workspace packages resolve to their src/ (no build needed). tsx is resolved
// from this file, so it works from any working directory. It is not published: @natgrad/cli's bin
// is dist/cli.js (pnpm --filter @natgrad/cli build), which imports the libraries' dist/.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
let tsx;
try {
  tsx = import.meta.resolve('tsx');
} catch {
  process.stderr.write('natgrad: tsx is not installed; run pnpm install in the natgrad checkout (or build and run the compiled CLI: pnpm build && node apps/train/dist/cli.js)\n');
  process.exit(1);
}
const child = spawn(process.execPath, ['--conditions=natgrad-source', '--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
