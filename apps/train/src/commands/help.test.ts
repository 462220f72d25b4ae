/**
 * The messages of the command line itself, through main() as a user meets them: each names the
 * flag, argument or file, what was expected, what was received and the fix, and exits 2 for a
 * usage error; a suggested command line is run to show it works.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { idxBytes, writeIdxDataset } from '../data/fixtures.test-util';
import { trainHelp } from '../flags/train-flags';
import { main } from '../main';
import { BENCH_HELP } from './bench';
import { COMPARE_HELP } from './compare';
import { USAGE } from './help';
import { memoryOutput } from './output';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-messages-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

async function run(argv: string[]) {
  const out = memoryOutput();
  const code = await main(argv, out);
  return { code, stdout: out.out.join(''), stderr: out.err.join('') };
}

/** The four parts every message has: the subject, expected, received and fix. */
function expectClear(stderr: string, subject: string): { expected: string; received: string; fix: string } {
  expect(stderr).toContain(subject);
  const field = (name: string) => {
    const m = new RegExp(`\\n  ${name}: (.*)`).exec(stderr);
    expect(m, `${name} in ${stderr}`).not.toBeNull();
    return m![1];
  };
  expect(stderr).not.toMatch(/\n\s+at /);
  return { expected: field('expected'), received: field('received'), fix: field('fix') };
}

describe('command and help messages', () => {
  it('a mistyped command suggests the nearest one with the same arguments, and that line works', async () => {
    const typo = await run(['trian', '--help']);
    expect(typo.code).toBe(2);
    const parts = expectClear(typo.stderr, 'Unknown command "trian"; did you mean "train"?');
    expect(parts.expected).toBe('one of train, compare, bundle, bench, help');
    expect(parts.received).toBe('"trian"');
    expect(parts.fix).toBe('run natgrad train --help');
    const suggested = parts.fix.replace(/^run natgrad /, '').split(' ');
    const fixed = await run(suggested);
    expect(fixed.code).toBe(0);
    expect(fixed.stdout).toBe(trainHelp());
    const far = await run(['xyzzy']);
    expect(far.code).toBe(2);
    expect(expectClear(far.stderr, 'Unknown command "xyzzy".').fix).toContain('natgrad help');
  });

  it('help <topic> shows that help; an unknown topic names the topics', async () => {
    expect((await run(['help'])).stdout).toBe(USAGE);
    expect((await run(['help', 'train'])).stdout).toBe(trainHelp());
    expect((await run(['help', 'compare'])).stdout).toBe(COMPARE_HELP);
    const bad = await run(['help', 'nope']);
    expect(bad.code).toBe(2);
    const parts = expectClear(bad.stderr, 'Unknown help topic "nope".');
    expect(bad.stderr).toContain('<topic>: no help topic "nope"; topics: train, compare, bundle, bench');
    expect(parts.expected).toBe('one of train, compare, bundle, bench');
    expect(parts.received).toBe('"nope"');
    expect(parts.fix).toContain('natgrad help train');
  });

  it('-h shows the help of every command', async () => {
    for (const [argv, text] of [[['train', '-h'], trainHelp()], [['compare', '-h'], COMPARE_HELP], [['bench', '-h'], BENCH_HELP], [['bench', 'step', '-h'], BENCH_HELP]] as const) {
      const r = await run([...argv]);
      expect(r.code, argv.join(' ')).toBe(0);
      expect(r.stdout).toBe(text);
    }
  });

  it('compare, bundle and bench without their argument name the argument, never a flag that does not exist', async () => {
    const compare = await run(['compare']);
    expect(compare.code).toBe(2);
    const c = expectClear(compare.stderr, '<run-dir>: missing');
    expect(compare.stderr).not.toContain('--run-dir');
    expect(c.received).toBe('no run folder');
    expect(c.fix).toContain('natgrad compare runs/*');

    const bundle = await run(['bundle']);
    expect(bundle.code).toBe(2);
    expect(expectClear(bundle.stderr, '<dir>: missing').expected).toBe('exactly one output folder (natgrad bundle <dir>)');
    expect(bundle.stderr).not.toContain('--dir');

    const bench = await run(['bench', 'nope']);
    expect(bench.code).toBe(2);
    const b = expectClear(bench.stderr, '<subcommand>: unknown bench subcommand "nope"');
    expect(bench.stderr).not.toContain('--subcommand');
    expect(b.expected).toBe('one of step, study after natgrad bench');
    expect(b.received).toBe('"nope"');
    const near = await run(['bench', 'stdy', '-h']);
    expect(expectClear(near.stderr, 'did you mean study?').fix).toBe('run natgrad bench study -h');
    expect((await run(['bench', 'study', '-h'])).code).toBe(0);
  });

  it('--lr -0.1 is read as a value and refused by the range check, not as an unknown flag', async () => {
    const r = await run(['train', '--lr', '-0.1', '--json']);
    expect(r.code).toBe(2);
    const parts = expectClear(r.stderr, '--lr: "-0.1" is not a number > 0');
    expect(parts.expected).toBe('--lr a number > 0');
    expect(parts.received).toBe('--lr "-0.1"');
    expect(JSON.parse(r.stdout.trim())).toMatchObject({ event: 'error', code: 'INVALID_ARGUMENT', received: '--lr "-0.1"' });
  });

  it('--runs-dir naming a file is refused before anything runs, and the file is left as it was', async () => {
    const file = join(tmp, 'not-a-folder');
    writeFileSync(file, 'keep me');
    const r = await run(['train', '--runs-dir', file, '--backend', 'wasm']);
    expect(r.code).toBe(2);
    const parts = expectClear(r.stderr, `--runs-dir: ${file} is a file, not a folder`);
    expect(parts.received).toBe(`${file}: an existing file`);
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    expect(r.stderr).not.toContain('EEXIST');
  });

  it('--width 20000 is refused with the estimate and the flag to lower, before the backend allocates', async () => {
    const runs = join(tmp, 'runs-wide');
    const r = await run(['train', '--width', '20000', '--backend', 'wasm', '--runs-dir', runs]);
    expect(r.code).toBe(2);
    const parts = expectClear(r.stderr, 'The run does not fit in the memory of the wasm backend');
    expect(r.stderr).toContain('--width: training would need about');
    expect(parts.expected).toContain('4.0 GiB');
    expect(parts.received).toContain('--width 20000');
    expect(parts.fix).toMatch(/--width \d+ or less/);
    expect(r.stderr).not.toContain('memory access out of bounds');
    expect(existsSync(runs)).toBe(false);
  });

  it('an empty dataset and 0x0 images name the file, not --batch or kfac, and write no run folder', async () => {
    const empty = join(tmp, 'empty');
    writeIdxDataset(empty, { train: 0, test: 4, side: 8 });
    const runs = join(tmp, 'runs-empty');
    const a = await run(['train', '--backend', 'wasm', '--dataset', 'fashion-mnist', '--data-dir', empty, '--runs-dir', runs]);
    expect(a.code).toBe(1);
    const parts = expectClear(a.stderr, `${join(empty, 'train-images-idx3-ubyte')} holds 0 examples`);
    expect(parts.received).toBe('0 images of 8x8 pixels');
    expect(a.stderr).not.toContain('--batch');

    const flat = join(tmp, 'flat');
    writeIdxDataset(flat, { train: 4, test: 4, side: 8 });
    writeFileSync(join(flat, 't10k-images-idx3-ubyte'), idxBytes([4, 0, 0], []));
    const b = await run(['train', '--backend', 'wasm', '--dataset', 'mnist', '--data-dir', flat, '--runs-dir', runs]);
    expect(b.code).toBe(1);
    expectClear(b.stderr, `IDX image file ${join(flat, 't10k-images-idx3-ubyte')} declares 0x0 images`);
    expect(b.stderr).not.toMatch(/kfac|init/i);
    expect(existsSync(runs)).toBe(false);
  });
});
