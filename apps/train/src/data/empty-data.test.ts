/**
 * Datasets that hold nothing to train on: every refusal names the file (or the dataset and its
 * folder), says it has 0 examples or images without pixels, and how to fix it; never a message
 * about --batch or the curvature estimator.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { afterAll, describe, expect, it } from 'vitest';
import { parseCifar10 } from './cifar10';
import type { ImageDataset } from './dataset';
import { idxBytes, writeIdxDataset } from './fixtures.test-util';
import { loadIdxDataset } from './idx';
import { checkDataset, loadDataset } from './load';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-empty-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function errorOf(fn: () => unknown): NatgradError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NatgradError);
    return e as NatgradError;
  }
  throw new Error('expected a NatgradError');
}

describe('empty datasets', () => {
  it('an IDX image file with 0 images names the file and says it holds 0 examples', async () => {
    const dir = join(tmp, 'zero');
    writeIdxDataset(dir, { train: 0, test: 5 });
    const e = errorOf(() => loadIdxDataset(dir, 'fashion-mnist'));
    expect(e.code).toBe('DATASET_INVALID');
    expect(e.message).toContain(`IDX image file ${join(dir, 'train-images-idx3-ubyte')} holds 0 examples`);
    expect(e.expected).toContain('at least one image');
    expect(e.received).toBe('0 images of 28x28 pixels');
    expect(e.fix).toContain('download the file again');
    expect(e.message).not.toContain('--batch');
    await expect(loadDataset('fashion-mnist', dir)).rejects.toThrow(/holds 0 examples/);
  });

  it('an IDX image file declaring 0x0 images names the file', () => {
    const dir = join(tmp, 'no-pixels');
    writeIdxDataset(dir, { train: 4, test: 4 });
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), idxBytes([4, 0, 0], []));
    const e = errorOf(() => loadIdxDataset(dir, 'mnist'));
    expect(e.message).toContain(`IDX image file ${join(dir, 'train-images-idx3-ubyte')} declares 0x0 images`);
    expect(e.expected).toContain('at least 1x1 pixels');
    expect(e.received).toBe('a header of 4 images of 0x0 pixels');
    expect(e.fix).toContain('download it again');
  });

  it('an empty CIFAR-10 batch file names the file and says it holds 0 examples', () => {
    const e = errorOf(() => parseCifar10(new Uint8Array(0), '/data/cifar/test_batch.bin'));
    expect(e.message).toContain('CIFAR-10 file /data/cifar/test_batch.bin holds 0 examples');
    expect(e.received).toBe('an empty file (0 bytes)');
  });

  it('a --data-dir that is a file names the flag and the folder to pass instead (bench study reads it too)', async () => {
    const file = join(tmp, 'train-labels-idx1-ubyte');
    writeFileSync(file, 'x');
    await expect(loadDataset('mnist', file)).rejects.toThrow(`--data-dir ${file} is a file, not a folder.\n  expected: the folder holding mnist\n  received: ${file}: a file\n  fix: pass --data-dir the folder that holds it: ${tmp}`);
  });

  it('checkDataset refuses an empty split or pixel-less images from any source, naming the dataset and folder', () => {
    const split = { images: new Uint8Array(4), labels: new Uint8Array(1), count: 1 };
    const base: ImageDataset = { name: 'mnist', height: 2, width: 2, channels: 1, numClasses: 10, train: split, test: split, source: '/somewhere' };
    expect(checkDataset(base)).toBe(base);
    const noTest = errorOf(() => checkDataset({ ...base, test: { images: new Uint8Array(0), labels: new Uint8Array(0), count: 0 } }));
    expect(noTest.message).toContain('Dataset mnist in /somewhere has 0 test examples');
    expect(noTest.received).toBe('0 test examples (1 training, 0 test)');
    const flat = errorOf(() => checkDataset({ ...base, height: 0, width: 0 }));
    expect(flat.received).toBe('0x0x1 images');
  });
});
