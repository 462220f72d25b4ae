/**
 * One error for all bad flags of a command line: each problem names the flag and what it
 * accepts, so a user fixes everything in one go instead of one flag per attempt.
 */
import { NatgradError } from '@natgrad/core';

export interface FlagProblem {
  flag: string;
  message: string;
}

export class FlagError extends NatgradError {
  readonly problems: FlagProblem[];

  constructor(command: string, problems: FlagProblem[]) {
    const list = problems.map((p) => `--${p.flag}: ${p.message}`);
    super('INVALID_ARGUMENT', `Invalid flags for natgrad ${command}:\n  ${list.join('\n  ')}`, {
      expected: 'flags as listed by natgrad ' + command + ' --help',
      received: problems.map((p) => `--${p.flag}`).join(', '),
      fix: `correct the flag${problems.length > 1 ? 's' : ''} above (natgrad ${command} --help lists every flag)`,
    });
    this.problems = problems;
  }
}
