import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadCifar10, parseCifar10 } from './cifar10';
import { cifarBytes, writeCifarDataset } from './fixtures.test-util';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-cifar-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('CIFAR-10 binary reader', () => {
  it('converts planar RGB records to channels-last and keeps labels', () => {
    const split = parseCifar10(cifarBytes(3));
    expect(split.count).toBe(3);
    expect(Array.from(split.labels)).toEqual([0, 1, 2]);
    const img = 2 * 3072;
    expect(Array.from(split.images.subarray(img, img + 6))).toEqual([40, 1, 2, 40, 1, 2]);
  });

  it('rejects truncated files and bad labels', () => {
    const bytes = cifarBytes(2);
    expect(() => parseCifar10(bytes.subarray(0, bytes.length - 5), 'x.bin')).toThrow(/truncated[\s\S]*3068 extra bytes/);
    expect(() => parseCifar10(new Uint8Array(0))).toThrow(/holds 0 examples/);
    bytes[3073] = 57;
    expect(() => parseCifar10(bytes)).toThrow(/label 57 in record 1/);
  });

  it('loads all batches from a folder or its cifar-10-batches-bin child and names missing files', () => {
    writeCifarDataset(join(tmp, 'cifar-10-batches-bin'), 4, 3);
    const ds = loadCifar10(tmp);
    expect([ds.train.count, ds.test.count, ds.channels, ds.height]).toEqual([20, 3, 3, 32]);
    rmSync(join(tmp, 'cifar-10-batches-bin', 'data_batch_3.bin'));
    expect(() => loadCifar10(tmp)).toThrow(/missing data_batch_3\.bin/);
    writeFileSync(join(tmp, 'cifar-10-batches-bin', 'data_batch_3.bin'), cifarBytes(1).subarray(0, 100));
    expect(() => loadCifar10(tmp)).toThrow(/Corrupt or truncated/);
  });
});
