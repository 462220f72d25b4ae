/**
 * The `natgrad` command line: subcommand dispatch and error reporting (commands/report.ts). A
 * NatgradError (bad flag, missing dataset, unavailable backend...) is printed as its message only
 * (no stack trace), and under --json also as one {"event":"error"} line on stdout; exit status 2
 * for usage errors, 1 for other failures. NATGRAD_DEBUG=1 adds stack traces.
 */
import * as tf from '@tensorflow/tfjs';
import { benchCommand } from './commands/bench';
import { bundleCommand } from './commands/bundle';
import { compareCommand } from './commands/compare';
import { USAGE, helpCommand, unknownCommand } from './commands/help';
import type { Output } from './commands/output';
import { report } from './commands/report';
import { trainCommand } from './commands/train';

export { USAGE } from './commands/help';

const COMMANDS: Record<string, (argv: string[], out: Output) => Promise<number>> = {
  train: trainCommand,
  compare: compareCommand,
  bundle: bundleCommand,
  bench: benchCommand,
  help: async (argv, out) => helpCommand(argv, out),
};

export async function main(argv: string[], out: Output): Promise<number> {
  // PROD silences tfjs' console banners ("looks like you are running TensorFlow.js in Node.js"),
  // which would otherwise land between progress lines and in --json output.
  tf.env().set('PROD', true);
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h') {
    out.stdout(USAGE);
    return 0;
  }
  const run = COMMANDS[command];
  if (run === undefined) return report(unknownCommand(command, rest, Object.keys(COMMANDS)), out, rest.includes('--json'));
  try {
    return await run(rest, out);
  } catch (error) {
    return report(error, out, rest.includes('--json'));
  }
}
