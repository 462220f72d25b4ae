#!/usr/bin/env node
// The development launcher of a natgrad checkout (pnpm train, pnpm natgrad, the docs' commands):
// runs the CLI from its TypeScript sources with node + tsx and the `natgrad-source` export
// condition, so the workspace packages resolve to their src/ (no build needed). tsx is resolved
// from this file, so it works from any working directory. It is not published: @natgrad/cli's bin
// is dist/cli.js (pnpm --filter @natgrad/cli build), which imports the libraries' dist/.
import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
let tsx;
try {
  tsx = import.meta.resolve('tsx');
} catch {
  process.stderr.write('natgrad: tsx is not installed; run pnpm install in the natgrad checkout (or build and run the compiled CLI: pnpm build && node apps/train/dist/cli.js)\n');
  process.exit(1);
}
// The launcher is only a relay: every catchable signal it gets goes to the training process, which
// prints how to resume and exits (128 + signal). NATGRAD_LAUNCHER_PID lets the child notice when the
// launcher itself dies (SIGKILL cannot be relayed): it is then re-parented and stops on its own, so
// no orphan keeps writing the run folder. Left alone: SIGUSR1 (Node's inspector), the job-control
// signals (a launcher that caught SIGTSTP would not stop, and the shell would wait for it), SIGPIPE
// and SIGWINCH (the terminal sends those to the child itself); SIGKILL and SIGSTOP cannot be caught.
// Under an MPI launcher the training child, not this relay, calls MPI_Init, so it must reach the
// launcher as this process would: the environment (Open MPI's and Slurm's PMIx find their server by
// the variables in it) and, for MPICH's Hydra and Slurm's PMI-1/PMI-2, the socket inherited as file
// descriptor PMI_FD, which is passed on at the same number (stdio 'inherit' shares only 0-2).
const stdio = ['inherit', 'inherit', 'inherit'];
const pmiFd = Number(process.env.PMI_FD);
if (Number.isInteger(pmiFd) && pmiFd > 2) {
  while (stdio.length < pmiFd) stdio.push('ignore');
  stdio[pmiFd] = pmiFd;
}
const child = spawn(process.execPath, ['--conditions=natgrad-source', '--import', tsx, cli, ...process.argv.slice(2)], {
  stdio,
  env: { ...process.env, NATGRAD_LAUNCHER_PID: String(process.pid) },
});
const FORWARDED = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT', 'SIGUSR2', 'SIGALRM', 'SIGVTALRM', 'SIGPROF', 'SIGXCPU', 'SIGXFSZ', 'SIGBREAK'];
for (const signal of FORWARDED) {
  try {
    process.on(signal, () => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    });
  } catch {
    // A signal this platform does not have (SIGBREAK outside Windows, most of the others on it).
  }
}
// The child's status, or 128 + the signal that ended it (the shell's convention).
child.on('exit', (code, signal) => process.exit(code ?? (signal ? 128 + (constants.signals[signal] ?? 0) : 1)));
