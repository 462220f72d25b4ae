/**
 * Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/):
 * a 4-byte magic (two zero bytes, a type code, the number of dimensions), one big-endian uint32
 * per dimension, then the data. Files may be gzip-compressed or raw; the magic, the declared
 * sizes and the image/label counts are checked, so a truncated download or a wrong file fails
 * with a message that names the file instead of training on garbage.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { NatgradError } from '@natgrad/core';
import type { ImageDataset, ImageSplit } from './dataset';

const UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

function corrupt(file: string, expected: string, received: string, cause?: unknown): NatgradError {
  return new NatgradError('DATASET_INVALID', `Corrupt or truncated IDX file ${file}.`, {
    expected,
    received,
    fix: 'delete the file and download it again (the .gz files of the original distribution are accepted as they are)',
    cause,
  });
}

/** Parses an (already decompressed) IDX buffer of unsigned bytes. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length < 4) throw corrupt(file, 'at least a 4-byte IDX header', `${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw corrupt(file, 'IDX magic number starting with 0x00 0x00', `0x${hex(bytes[0])} 0x${hex(bytes[1])}`);
  }
  if (bytes[2] !== UBYTE) {
    throw corrupt(file, 'IDX data type 0x08 (unsigned byte)', `type 0x${hex(bytes[2])}`);
  }
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw corrupt(file, 'an IDX array of 1 to 4 dimensions', `${ndims} dimensions`);
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) {
    throw corrupt(file, `a header of ${headerSize} bytes`, `${bytes.length} bytes`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerSize + size) {
    throw corrupt(
      file,
      `${headerSize + size} bytes (header + ${dims.join('x')} values)`,
      `${bytes.length} bytes${bytes.length < headerSize + size ? ' (truncated)' : ' (trailing data)'}`,
    );
  }
  return { dims, data: bytes.subarray(headerSize) };
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Reads an IDX file, gunzipping it when it starts with the gzip magic 1f 8b. */
export function readIdxFile(file: string): IdxArray {
  if (!existsSync(file)) {
    throw new NatgradError('DATASET_MISSING', `IDX file not found: ${file}.`, {
      expected: 'an IDX file (raw or .gz)',
      received: 'no such file',
      fix: 'pass --data-dir pointing to the folder holding the four IDX files',
    });
  }
  let bytes: Uint8Array = readFileSync(file);
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (cause) {
      throw corrupt(file, 'a complete gzip stream', `gzip error: ${(cause as Error).message}`, cause);
    }
  }
  return parseIdx(bytes, file);
}

const IDX_NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The path of an IDX file in dir: the .gz version, else the raw one (also with the dot-idx3 spelling). */
export function findIdxFile(dir: string, base: string): string | null {
  const candidates = [`${base}.gz`, base, `${base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte')}.gz`, base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte')];
  for (const c of candidates) {
    const p = join(dir, c);
    if (existsSync(p)) return p;
  }
  return null;
}

/** Whether dir holds all four IDX files. */
export function hasIdxDataset(dir: string): boolean {
  return Object.values(IDX_NAMES).every((b) => findIdxFile(dir, b) !== null);
}

function readSplit(dir: string, imagesBase: string, labelsBase: string, numClasses: number): { split: ImageSplit; rows: number; cols: number } {
  const imagesFile = findIdxFile(dir, imagesBase);
  const labelsFile = findIdxFile(dir, labelsBase);
  for (const [base, file] of [[imagesBase, imagesFile], [labelsBase, labelsFile]] as const) {
    if (file === null) {
      throw new NatgradError('DATASET_MISSING', `Missing IDX file ${base}(.gz) in ${dir}.`, {
        expected: `${Object.values(IDX_NAMES).join(', ')} (each raw or .gz)`,
        received: `no ${base} or ${base}.gz`,
        fix: 'download the four IDX files into that folder, or pass --data-dir pointing to where they are',
      });
    }
  }
  const images = readIdxFile(imagesFile!);
  const labels = readIdxFile(labelsFile!);
  if (images.dims.length !== 3) {
    throw corrupt(imagesFile!, 'a 3-dimensional image array (count x rows x cols)', `${images.dims.length} dimensions`);
  }
  if (labels.dims.length !== 1) {
    throw corrupt(labelsFile!, 'a 1-dimensional label array', `${labels.dims.length} dimensions`);
  }
  const [count, rows, cols] = images.dims;
  if (rows < 1 || cols < 1) {
    throw new NatgradError('DATASET_INVALID', `IDX image file ${imagesFile} declares ${rows}x${cols} images.`, {
      expected: 'images of at least 1x1 pixels (MNIST and Fashion-MNIST are 28x28)',
      received: `a header of ${count} images of ${rows}x${cols} pixels`,
      fix: 'the file is damaged or not an image file; delete it and download it again',
    });
  }
  if (count === 0) {
    throw new NatgradError('DATASET_INVALID', `IDX image file ${imagesFile} holds 0 examples.`, {
      expected: 'at least one image (and as many labels)',
      received: `0 images of ${rows}x${cols} pixels`,
      fix: 'the download is incomplete or a placeholder; download the file again, or pass --data-dir pointing to a complete copy',
    });
  }
  if (images.dims[0] !== labels.dims[0]) {
    throw new NatgradError('DATASET_INVALID', `Image and label counts differ in ${dir}.`, {
      expected: `as many labels as images (${images.dims[0]})`,
      received: `${labels.dims[0]} labels in ${labelsFile}`,
      fix: 'the two files come from different downloads; download both again',
    });
  }
  for (let i = 0; i < labels.data.length; i++) {
    if (labels.data[i] >= numClasses) {
      throw corrupt(labelsFile!, `labels in 0..${numClasses - 1}`, `label ${labels.data[i]} at index ${i}`);
    }
  }
  return {
    split: { images: images.data, labels: labels.data, count: images.dims[0] },
    rows: images.dims[1],
    cols: images.dims[2],
  };
}

/** Loads an MNIST-style dataset (train-* and t10k-* IDX files) from a folder. */
export function loadIdxDataset(dir: string, name: string, numClasses = 10): ImageDataset {
  const train = readSplit(dir, IDX_NAMES.trainImages, IDX_NAMES.trainLabels, numClasses);
  const test = readSplit(dir, IDX_NAMES.testImages, IDX_NAMES.testLabels, numClasses);
  if (train.rows !== test.rows || train.cols !== test.cols) {
    throw new NatgradError('DATASET_INVALID', `Train and test images differ in size in ${dir}.`, {
      expected: `test images of ${train.rows}x${train.cols}`,
      received: `${test.rows}x${test.cols}`,
      fix: 'the files come from different datasets; put one dataset per folder',
    });
  }
  return {
    name,
    height: train.rows,
    width: train.cols,
    channels: 1,
    numClasses,
    train: train.split,
    test: test.split,
    source: dir,
  };
}
