import { describe, expect, it } from 'vitest';
import { FlagError } from './flag-error';
import { joinNegativeValues, parseCommandArgs } from './parse-args';
import { editDistance, nearest } from './suggest';

const OPTIONS = { lr: { type: 'string' }, name: { type: 'string' }, json: { type: 'boolean' } } as const;

function errorOf(argv: string[]): FlagError {
  try {
    parseCommandArgs('demo', argv, OPTIONS, false);
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    return e as FlagError;
  }
  throw new Error('expected a FlagError');
}

describe('parseCommandArgs', () => {
  it('takes a negative number after a value flag as its value (--lr -0.1), not as a flag', () => {
    expect(joinNegativeValues(['--lr', '-0.1', '--json'], OPTIONS)).toEqual(['--lr=-0.1', '--json']);
    expect(joinNegativeValues(['--lr', '-.5'], OPTIONS)).toEqual(['--lr=-.5']);
    expect(joinNegativeValues(['--lr', '-1e-3'], OPTIONS)).toEqual(['--lr=-1e-3']);
    // A boolean flag takes no value, and nothing after -- is rewritten.
    expect(joinNegativeValues(['--json', '-1'], OPTIONS)).toEqual(['--json', '-1']);
    expect(joinNegativeValues(['--', '--lr', '-1'], OPTIONS)).toEqual(['--', '--lr', '-1']);
    expect(parseCommandArgs('demo', ['--lr', '-0.1'], OPTIONS, false).values.lr).toBe('-0.1');
  });

  it("keeps Node's --flag=-value hint for a dash-led value that is not a number", () => {
    const e = errorOf(['--name', '-foo']);
    expect(e.problems[0]).toMatchObject({ flag: 'name' });
    expect(e.message).toContain('--name: the value "-foo" starts with a dash');
    expect(e.received).toBe('"-foo"');
    expect(e.fix).toBe('write --name=-foo');
  });

  it('accepts -h as --help', () => {
    expect(parseCommandArgs('demo', ['-h'], OPTIONS, false).values.help).toBe(true);
  });

  it('suggests the nearest flag for a typo, and lists the flags when none is near', () => {
    const typo = errorOf(['--jsno']);
    expect(typo.message).toContain('--jsno: unknown flag; did you mean --json?');
    expect(typo.expected).toContain('--lr --name --json --help');
    expect(typo.received).toBe('--jsno');
    expect(typo.fix).toBe('write --json');
    const far = errorOf(['--zzzzzzzz']);
    expect(far.message).toContain('unknown flag; allowed flags: --lr --name --json --help');
    expect(far.fix).not.toContain('write');
  });

  it('names a missing value and an unexpected positional argument', () => {
    expect(errorOf(['--lr']).message).toContain('--lr: expects a value');
    const positional = errorOf(['oops']);
    expect(positional.message).toContain('<oops>: unexpected positional argument');
    expect(positional.received).toBe('"oops"');
  });
});

describe('nearest', () => {
  it('counts an adjacent swap as one edit and refuses far-off words', () => {
    expect(editDistance('trian', 'train')).toBe(1);
    expect(editDistance('kitten', 'sitting')).toBe(3);
    expect(nearest('trian', ['train', 'compare', 'bundle', 'bench'])).toBe('train');
    expect(nearest('bnech', ['train', 'compare', 'bundle', 'bench'])).toBe('bench');
    expect(nearest('xyz', ['train', 'compare', 'bundle', 'bench'])).toBeUndefined();
    expect(nearest('optim', ['optimizer', 'output'])).toBe('optimizer');
  });
});
