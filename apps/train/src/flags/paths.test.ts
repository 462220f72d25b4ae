import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FlagError } from './flag-error';
import { checkInputDir, checkOutputDir } from './paths';
import { parseTrainFlags } from './train-flags';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-paths-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('folder flags', () => {
  it('refuses --runs-dir naming a file, with the flag, what it needs, what it got and the fix', () => {
    const file = join(tmp, 'a-file');
    writeFileSync(file, 'x');
    let error: unknown;
    try {
      parseTrainFlags(['--runs-dir', file]);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlagError);
    const e = error as FlagError;
    expect(e.problems[0].flag).toBe('runs-dir');
    expect(e.message).toContain(`--runs-dir: ${file} is a file, not a folder`);
    expect(e.expected).toContain('a folder (existing or creatable)');
    expect(e.received).toBe(`${file}: an existing file`);
    expect(e.fix).toContain('pass --runs-dir a folder path');
  });

  it('refuses a --runs-dir that cannot be created because a parent is a file', () => {
    const file = join(tmp, 'parent-file');
    writeFileSync(file, 'x');
    const p = checkOutputDir('runs-dir', join(file, 'runs', 'deeper'));
    expect(p?.message).toContain(`cannot be created: ${file} is a file`);
  });

  it.skipIf(process.getuid?.() === 0)('refuses a --runs-dir in a folder without write permission', () => {
    const locked = join(tmp, 'locked');
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    try {
      expect(checkOutputDir('runs-dir', join(locked, 'runs'))?.message).toContain('no write permission');
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  it('accepts an existing folder and a creatable one, and does not create it', () => {
    expect(checkOutputDir('runs-dir', tmp)).toBeNull();
    expect(checkOutputDir('runs-dir', join(tmp, 'new', 'runs'))).toBeNull();
    expect(parseTrainFlags(['--runs-dir', join(tmp, 'new2')]).config.runsDir).toBe(join(tmp, 'new2'));
  });

  it('refuses --data-dir naming a file and points at its folder', () => {
    const file = join(tmp, 'train-images-idx3-ubyte');
    writeFileSync(file, 'x');
    const p = checkInputDir('data-dir', file);
    expect(p?.message).toContain('is a file, not a folder');
    expect(p?.fix).toContain(tmp);
    expect(checkInputDir('data-dir', tmp)).toBeNull();
    expect(checkInputDir('data-dir', join(tmp, 'missing'))).toBeNull();
  });

  it('skips the file system checks when asked (bench step writes no run folder)', () => {
    const file = join(tmp, 'a-file');
    expect(parseTrainFlags(['--runs-dir', file], { checkPaths: false }).config.runsDir).toBe(file);
  });
});
