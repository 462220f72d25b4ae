#!/usr/bin/env node
// Launches the natgrad CLI from its TypeScript sources: node + tsx, with the `natgrad-source`
// export condition so the workspace packages resolve to their src/ (no build needed). tsx is
// resolved from this file, so the launcher works from any working directory.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
let tsx;
try {
  tsx = import.meta.resolve('tsx');
} catch {
  process.stderr.write('natgrad: tsx is not installed; run pnpm install in the natgrad checkout (or use a bundle: natgrad bundle <dir>)\n');
  process.exit(1);
}
const child = spawn(process.execPath, ['--conditions=natgrad-source', '--import', tsx, cli, ...process.argv.slice(2)], { stdio: 'inherit' });
for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
