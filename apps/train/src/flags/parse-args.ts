/**
 * The one command-line parser of every natgrad command: Node's util.parseArgs with the three
 * things it lacks for a CLI of numeric flags. A value that starts with a dash but is a number
 * (`--lr -0.1`) is taken as the flag's value, so the flag's validator can say what range it needs
 * instead of Node's "argument is ambiguous"; `-h` is `--help` everywhere; and parse failures become
 * FlagErrors that name the flag, suggest the nearest real flag for a typo, and keep Node's
 * `--name=-value` hint for other dash-led values.
 */
import { parseArgs } from 'node:util';
import { FlagError, type FlagProblem } from './flag-error';
import { nearest } from './suggest';

export type OptionTypes = Record<string, { type: 'string' | 'boolean' }>;

export interface ParsedArgs {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
}

/** `-0.1`, `-3`, `-.5`, `-1e-3`, `-Infinity`: values, not flags (no natgrad flag is a digit). */
const NEGATIVE_NUMBER = /^-(\d|\.\d|Infinity$)/;

/** Rewrites `--flag -0.1` as `--flag=-0.1` for string-valued flags; nothing after `--` is touched. */
export function joinNegativeValues(argv: readonly string[], options: OptionTypes): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    if (token === '--') {
      out.push(...argv.slice(i));
      break;
    }
    const name = token.startsWith('--') && !token.includes('=') ? token.slice(2) : null;
    const next = argv[i + 1];
    if (name !== null && options[name]?.type === 'string' && next !== undefined && NEGATIVE_NUMBER.test(next)) {
      out.push(`${token}=${next}`);
      i++;
    } else {
      out.push(token);
    }
  }
  return out;
}

function flagList(options: OptionTypes): string {
  return Object.keys(options)
    .map((f) => `--${f}`)
    .join(' ');
}

/** Turns a util.parseArgs error into a problem that names the flag and how to fix it. */
export function parseProblem(error: Error & { code?: string }, options: OptionTypes, argv: readonly string[]): FlagProblem {
  const msg = error.message;
  const quoted = /'(-{1,2}[^' =]+)/.exec(msg)?.[1] ?? '?';
  const name = quoted.replace(/^-+/, '');
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const guess = nearest(name, Object.keys(options));
    return {
      flag: name,
      message: guess ? `unknown flag; did you mean --${guess}?` : `unknown flag; allowed flags: ${flagList(options)}`,
      expected: `one of ${flagList(options)}`,
      received: quoted,
      fix: guess ? `write --${guess}` : 'remove it, or pick one of the allowed flags',
    };
  }
  if (error.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
    const value = /Unexpected argument '([^']*)'/.exec(msg)?.[1] ?? '?';
    return {
      flag: value,
      positional: true,
      message: 'unexpected positional argument; every option of this command is a --flag followed by its value',
      expected: 'only --flags and their values',
      received: `"${value}"`,
      fix: 'remove it, or put the flag it belongs to in front of it',
    };
  }
  if (/ambiguous/.test(msg)) {
    const at = argv.indexOf(quoted);
    const value = at >= 0 ? argv[at + 1] : undefined;
    return {
      flag: name,
      message: `the value ${value === undefined ? '' : `"${value}" `}starts with a dash, so it reads as another flag; write --${name}=${value ?? '-VALUE'} to pass it as the value`,
      expected: `a value after --${name}`,
      received: value === undefined ? 'a dash-led token' : `"${value}"`,
      fix: `write --${name}=${value ?? '-VALUE'}`,
    };
  }
  if (/argument missing/.test(msg)) {
    return { flag: name, message: 'expects a value', expected: `--${name} <value>`, received: `--${name} with nothing after it`, fix: `give --${name} a value, or leave the flag out` };
  }
  if (/does not take an argument/.test(msg)) {
    return { flag: name, message: 'takes no value', expected: `--${name} alone`, received: msg.split('\n')[0], fix: `write --${name} without =value` };
  }
  return { flag: name, message: msg.split('\n')[0] };
}

/**
 * Parses argv for `natgrad <command>`; `help` (with `-h`) is always accepted. Throws one FlagError
 * naming the flag for any parse failure.
 */
export function parseCommandArgs(command: string, argv: readonly string[], options: OptionTypes, allowPositionals: boolean): ParsedArgs {
  const all: OptionTypes = { ...options, help: { type: 'boolean' } };
  const parseOptions: Record<string, { type: 'string' | 'boolean'; short?: string }> = {};
  for (const [flag, o] of Object.entries(all)) parseOptions[flag] = flag === 'help' ? { type: 'boolean', short: 'h' } : { type: o.type };
  const args = joinNegativeValues(argv, all);
  try {
    const parsed = parseArgs({ args, options: parseOptions, strict: true, allowPositionals });
    return { values: parsed.values as ParsedArgs['values'], positionals: parsed.positionals };
  } catch (e) {
    throw new FlagError(command, [parseProblem(e as Error & { code?: string }, all, args)]);
  }
}
