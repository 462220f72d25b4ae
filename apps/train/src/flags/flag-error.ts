/**
 * One error for all bad flags of a command line: each problem names the flag (or the positional
 * argument, shown as <name>) and what it accepts, so a user fixes everything in one go instead of
 * one flag per attempt. A problem may carry its own expected / received / fix; a single such
 * problem becomes the error's, so the JSON error line says exactly what was wrong and how to fix it.
 */
import { NatgradError } from '@natgrad/core';

export interface FlagProblem {
  /** The flag's name without dashes, or the positional argument's name. */
  flag: string;
  message: string;
  /** A positional argument (`<run-dir>`), not a `--flag`: never print a flag that does not exist. */
  positional?: boolean;
  expected?: string;
  received?: string;
  fix?: string;
}

/** How a problem names its subject: `--lr` for a flag, `<run-dir>` for a positional argument. */
export function problemLabel(p: FlagProblem): string {
  return p.positional ? `<${p.flag}>` : `--${p.flag}`;
}

function joined(problems: FlagProblem[], field: 'expected' | 'received' | 'fix'): string | undefined {
  const withField = problems.filter((p) => p[field] !== undefined);
  if (withField.length === 0) return undefined;
  if (problems.length === 1) return withField[0][field];
  return withField.map((p) => (p[field]!.startsWith(problemLabel(p)) ? p[field] : `${problemLabel(p)}: ${p[field]}`)).join('; ');
}

export class FlagError extends NatgradError {
  readonly problems: FlagProblem[];

  /** `summary` replaces the first line ("Invalid flags for natgrad <command>:") when given. */
  constructor(command: string, problems: FlagProblem[], summary?: string) {
    const list = problems.map((p) => `${problemLabel(p)}: ${p.message}`);
    const usage = command === '' ? 'natgrad help' : `natgrad ${command} --help`;
    const what = problems.some((p) => p.positional) ? 'arguments' : 'flags';
    super('INVALID_ARGUMENT', `${summary ?? `Invalid ${what} for natgrad ${command}:`}\n  ${list.join('\n  ')}`, {
      expected: joined(problems, 'expected') ?? `arguments as listed by ${usage}`,
      received: joined(problems, 'received') ?? problems.map(problemLabel).join(', '),
      fix: joined(problems, 'fix') ?? `correct the argument${problems.length > 1 ? 's' : ''} above (${usage} lists every flag)`,
    });
    this.problems = problems;
  }
}
