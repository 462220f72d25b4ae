import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { NatgradError } from '@natgrad/core';
import { afterAll, describe, expect, it } from 'vitest';
import { idxBytes, writeIdxDataset } from './fixtures.test-util';
import { loadIdxDataset, parseIdx, readIdxFile } from './idx';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-idx-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NatgradError);
    return (e as NatgradError).code;
  }
  throw new Error('expected a NatgradError');
}

describe('IDX reader', () => {
  it('parses dims and data of a raw buffer', () => {
    const arr = parseIdx(idxBytes([2, 2, 3], [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]));
    expect(arr.dims).toEqual([2, 2, 3]);
    expect(Array.from(arr.data)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
  });

  it('reads raw and gzip files identically', () => {
    const bytes = idxBytes([3], [7, 8, 9]);
    writeFileSync(join(tmp, 'raw'), bytes);
    writeFileSync(join(tmp, 'gz'), gzipSync(bytes));
    expect(Array.from(readIdxFile(join(tmp, 'raw')).data)).toEqual([7, 8, 9]);
    expect(Array.from(readIdxFile(join(tmp, 'gz')).data)).toEqual([7, 8, 9]);
  });

  it('rejects a wrong magic, a wrong type, truncated data and trailing data', () => {
    const good = idxBytes([4], [1, 2, 3, 4]);
    const badMagic = good.slice();
    badMagic[0] = 0x1a;
    const badType = good.slice();
    badType[2] = 0x0d;
    expect(codeOf(() => parseIdx(badMagic))).toBe('DATASET_INVALID');
    expect(codeOf(() => parseIdx(badType))).toBe('DATASET_INVALID');
    expect(codeOf(() => parseIdx(good.subarray(0, 6)))).toBe('DATASET_INVALID');
    expect(() => parseIdx(good.subarray(0, good.length - 1), 'f.idx')).toThrow(/truncated/);
    const long = new Uint8Array(good.length + 2);
    long.set(good);
    expect(() => parseIdx(long)).toThrow(/trailing data/);
  });

  it('rejects a truncated gzip stream and a missing file', () => {
    const gz = gzipSync(idxBytes([100], new Uint8Array(100)));
    writeFileSync(join(tmp, 'cut.gz'), gz.subarray(0, gz.length - 10));
    expect(() => readIdxFile(join(tmp, 'cut.gz'))).toThrow(/gzip/);
    expect(codeOf(() => readIdxFile(join(tmp, 'nope')))).toBe('DATASET_MISSING');
  });

  it('loads a gzip dataset folder and keeps images paired with labels', () => {
    const dir = join(tmp, 'ds-gz');
    writeIdxDataset(dir, { train: 20, test: 10, side: 4, gzip: true });
    const ds = loadIdxDataset(dir, 'fashion-mnist');
    expect([ds.height, ds.width, ds.channels, ds.train.count, ds.test.count]).toEqual([4, 4, 1, 20, 10]);
    for (let i = 0; i < 20; i++) expect(ds.train.images[i * 16]).toBe(ds.train.labels[i] * 20);
  });

  it('names the missing file and rejects mismatched counts and out-of-range labels', () => {
    const dir = join(tmp, 'ds-raw');
    writeIdxDataset(dir, { train: 20, test: 10, side: 4 });
    rmSync(join(dir, 't10k-labels-idx1-ubyte'));
    expect(() => loadIdxDataset(dir, 'x')).toThrow(/t10k-labels-idx1-ubyte/);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([9], new Uint8Array(9)));
    expect(() => loadIdxDataset(dir, 'x')).toThrow(/counts differ/);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), idxBytes([10], new Uint8Array(10).fill(12)));
    expect(() => loadIdxDataset(dir, 'x')).toThrow(/labels in 0\.\.9/);
  });
});
