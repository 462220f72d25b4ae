/**
 * `natgrad help [topic]` and the answer to a mistyped command. The usage text lists the commands;
 * `help <command>` (or `<command> --help`, `-h`) shows that command's flags; an unknown topic or
 * command is an error that names the valid ones and, for a typo, the nearest command with the rest
 * of the user's arguments, so the suggested line can be pasted as it is.
 */
import { FlagError } from '../flags/flag-error';
import { nearest } from '../flags/suggest';
import { trainHelp } from '../flags/train-flags';
import { BENCH_HELP } from './bench';
import { BUNDLE_HELP } from './bundle';
import { COMPARE_HELP } from './compare';
import type { Output } from './output';

export const USAGE = `Usage: natgrad <command> [flags]

Commands:
  train     train a model (default: a small CNN on the embedded MNIST digits with FOP)
  compare   plot and tabulate several runs: natgrad compare runs/a runs/b
  bundle    write a self-contained folder that runs with plain node: natgrad bundle <dir>
  bench     natgrad bench step (per-step cost of each optimizer) | natgrad bench study (large-batch study)
  help      natgrad help <command> shows the flags of a command
`;

/** The help text of each command, which is also the list of help topics. */
export const HELP_TOPICS: Record<string, () => string> = {
  train: trainHelp,
  compare: () => COMPARE_HELP,
  bundle: () => BUNDLE_HELP,
  bench: () => BENCH_HELP,
};

/** Quotes an argument for a shell line only when it needs it. */
function shellWord(arg: string): string {
  return /^[A-Za-z0-9_./:=,@%+-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** `natgrad help`, `natgrad help <topic>`: the usage or a command's help; an unknown topic is an error. */
export function helpCommand(argv: string[], out: Output): number {
  const topic = argv.find((a) => a !== '--help' && a !== '-h');
  if (topic === undefined) {
    out.stdout(USAGE);
    return 0;
  }
  const text = HELP_TOPICS[topic];
  if (text !== undefined) {
    out.stdout(text());
    return 0;
  }
  const topics = Object.keys(HELP_TOPICS);
  const guess = nearest(topic, topics);
  throw new FlagError(
    'help',
    [
      {
        flag: 'topic',
        positional: true,
        message: `no help topic "${topic}"; topics: ${topics.join(', ')}${guess ? `; did you mean ${guess}?` : ''}`,
        expected: `one of ${topics.join(', ')}`,
        received: `"${topic}"`,
        fix: `run natgrad help ${guess ?? topics[0]}${guess ? '' : ` (or natgrad help for the list of commands)`}`,
      },
    ],
    `Unknown help topic "${topic}".`,
  );
}

/** The error for `natgrad <unknown>`: the valid commands and, for a typo, the corrected line. */
export function unknownCommand(command: string, rest: string[], commands: readonly string[]): FlagError {
  const guess = nearest(command, commands);
  const line = guess === undefined ? undefined : ['natgrad', guess, ...rest].map(shellWord).join(' ');
  return new FlagError(
    '',
    [
      {
        flag: 'command',
        positional: true,
        message: `unknown command "${command}"; commands: ${commands.join(', ')}${guess ? `; did you mean ${guess}?` : ''}`,
        expected: `one of ${commands.join(', ')}`,
        received: `"${command}"`,
        fix: line === undefined ? 'pick one of the commands above (natgrad help lists them)' : `run ${line}`,
      },
    ],
    guess ? `Unknown command "${command}"; did you mean "${guess}"?` : `Unknown command "${command}".`,
  );
}
