/**
 * Entry point of the `natgrad` command: run from the sources by bin/natgrad.mjs in a checkout,
 * compiled to dist/cli.js for the published @natgrad/cli (tsup.config.ts), and to natgrad.cjs by
 * `natgrad bundle`. Everything testable lives in main.ts; this file only connects it to the process.
 */
import { processOutput } from './commands/output';
import { main } from './main';

main(process.argv.slice(2), processOutput).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // main() reports every error itself; reaching this is a bug in the reporting.
    process.stderr.write(`natgrad: internal error: ${String(error)}\n`);
    process.exitCode = 70;
  },
);
