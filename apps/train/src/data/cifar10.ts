/**
 * Reader for the binary version of CIFAR-10 (https://www.cs.toronto.edu/~kriz/cifar.html):
 * data_batch_1..5.bin and test_batch.bin, each a sequence of 3073-byte records (one label byte,
 * then 1024 red, 1024 green and 1024 blue bytes of a 32x32 image, row-major). The reader converts
 * to channels-last, which is what the tfjs conv layers expect.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import type { ImageDataset, ImageSplit } from './dataset';

const SIDE = 32;
const PLANE = SIDE * SIDE;
const RECORD = 1 + 3 * PLANE;
export const CIFAR10_TRAIN_FILES = [1, 2, 3, 4, 5].map((i) => `data_batch_${i}.bin`);
export const CIFAR10_TEST_FILE = 'test_batch.bin';
export const CIFAR10_URL = 'https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz';

/** Parses the records of one CIFAR-10 batch file into channels-last bytes. */
export function parseCifar10(bytes: Uint8Array, file = '<buffer>'): ImageSplit {
  if (bytes.length === 0) {
    throw new NatgradError('DATASET_INVALID', `CIFAR-10 file ${file} holds 0 examples.`, {
      expected: `records of ${RECORD} bytes (1 label byte + 3x32x32 pixels); a batch file holds 10000`,
      received: 'an empty file (0 bytes)',
      fix: `the download or extraction stopped early; download ${CIFAR10_URL} again and extract it`,
    });
  }
  if (bytes.length === 0 || bytes.length % RECORD !== 0) {
    throw new NatgradError('DATASET_INVALID', `Corrupt or truncated CIFAR-10 file ${file}.`, {
      expected: `a non-empty multiple of ${RECORD} bytes (1 label byte + 3x32x32 pixels per record)`,
      received: `${bytes.length} bytes (${Math.floor(bytes.length / RECORD)} records and ${bytes.length % RECORD} extra bytes)`,
      fix: `download ${CIFAR10_URL} again and extract it (this reader needs the binary version, not the python one)`,
    });
  }
  const count = bytes.length / RECORD;
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const rec = n * RECORD;
    const label = bytes[rec];
    if (label > 9) {
      throw new NatgradError('DATASET_INVALID', `Corrupt CIFAR-10 file ${file}.`, {
        expected: 'label bytes in 0..9 at every 3073-byte record',
        received: `label ${label} in record ${n}`,
        fix: `the file is not CIFAR-10 binary data (CIFAR-100 has two label bytes); download ${CIFAR10_URL}`,
      });
    }
    labels[n] = label;
    const out = n * 3 * PLANE;
    for (let p = 0; p < PLANE; p++) {
      images[out + 3 * p] = bytes[rec + 1 + p];
      images[out + 3 * p + 1] = bytes[rec + 1 + PLANE + p];
      images[out + 3 * p + 2] = bytes[rec + 1 + 2 * PLANE + p];
    }
  }
  return { images, labels, count };
}

/** The folder that directly holds the batch files: dir itself or its cifar-10-batches-bin child. */
export function findCifar10Dir(dir: string): string | null {
  for (const d of [dir, join(dir, 'cifar-10-batches-bin')]) {
    if (existsSync(join(d, CIFAR10_TEST_FILE)) && CIFAR10_TRAIN_FILES.some((f) => existsSync(join(d, f)))) return d;
  }
  return null;
}

function concat(splits: ImageSplit[]): ImageSplit {
  const count = splits.reduce((a, s) => a + s.count, 0);
  const images = new Uint8Array(count * 3 * PLANE);
  const labels = new Uint8Array(count);
  let at = 0;
  for (const s of splits) {
    images.set(s.images, at * 3 * PLANE);
    labels.set(s.labels, at);
    at += s.count;
  }
  return { images, labels, count };
}

/**
 * Loads CIFAR-10 from a folder holding the binary batches (or its cifar-10-batches-bin child).
 * All five training batches must be present: silently training on a fifth of the data would
 * make results incomparable.
 */
export function loadCifar10(dir: string): ImageDataset {
  const root = findCifar10Dir(dir) ?? dir;
  const missing = [...CIFAR10_TRAIN_FILES, CIFAR10_TEST_FILE].filter((f) => !existsSync(join(root, f)));
  if (missing.length > 0) {
    throw new NatgradError('DATASET_MISSING', `CIFAR-10 files missing in ${root}.`, {
      expected: `${CIFAR10_TRAIN_FILES.join(', ')} and ${CIFAR10_TEST_FILE}`,
      received: `missing ${missing.join(', ')}`,
      fix: `download ${CIFAR10_URL}, extract it (tar xzf) and pass --data-dir pointing to cifar-10-batches-bin`,
    });
  }
  const read = (f: string) => parseCifar10(readFileSync(join(root, f)), join(root, f));
  return {
    name: 'cifar10',
    height: SIDE,
    width: SIDE,
    channels: 3,
    numClasses: 10,
    train: concat(CIFAR10_TRAIN_FILES.map(read)),
    test: read(CIFAR10_TEST_FILE),
    source: root,
  };
}
