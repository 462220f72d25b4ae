/**
 * IDX files (MNIST, Fashion-MNIST) picked by the user in the page: gzip or raw, recognised by
 * content rather than name where possible (images are 3-D, labels 1-D; train and test by their
 * counts or names), with every mismatch an error that says which file and how to fix it. The
 * parser mirrors apps/train/src/data/idx.ts, whose node:fs/node:zlib a page cannot import; gzip
 * goes through the browser's DecompressionStream (also in Node 18+, so the tests run in Node).
 */
import { NatgradError } from '@natgrad/core';
import { type ImageDataset, type ImageSplit, checkDataset } from './image-dataset';

const UBYTE = 0x08;

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

function corrupt(file: string, expected: string, received: string, cause?: unknown): NatgradError {
  return new NatgradError('DATASET_INVALID', `Corrupt, truncated or non-IDX file ${file}.`, {
    expected,
    received,
    fix: 'pick the original IDX files (train-images-idx3-ubyte.gz and friends), gzip or raw; download again if one is truncated',
    cause,
  });
}

function hex(b: number): string {
  return b.toString(16).padStart(2, '0');
}

/** Parses an (already decompressed) IDX buffer of unsigned bytes. */
export function parseIdx(bytes: Uint8Array, file = '<buffer>'): IdxArray {
  if (bytes.length < 4) throw corrupt(file, 'at least a 4-byte IDX header', `${bytes.length} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) throw corrupt(file, 'an IDX magic number starting with 0x00 0x00', `0x${hex(bytes[0])} 0x${hex(bytes[1])}`);
  if (bytes[2] !== UBYTE) throw corrupt(file, 'IDX data type 0x08 (unsigned byte)', `type 0x${hex(bytes[2])}`);
  const ndims = bytes[3];
  if (ndims < 1 || ndims > 4) throw corrupt(file, 'an IDX array of 1 to 4 dimensions', `${ndims} dimensions`);
  const headerSize = 4 + 4 * ndims;
  if (bytes.length < headerSize) throw corrupt(file, `a header of ${headerSize} bytes`, `${bytes.length} bytes`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < ndims; d++) dims.push(view.getUint32(4 + 4 * d, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.length !== headerSize + size) {
    const why = bytes.length < headerSize + size ? ' (truncated)' : ' (trailing data)';
    throw corrupt(file, `${headerSize + size} bytes (header + ${dims.join('x')} values)`, `${bytes.length} bytes${why}`);
  }
  return { dims, data: bytes.subarray(headerSize) };
}

async function gunzip(bytes: Uint8Array, file: string): Promise<Uint8Array> {
  try {
    const stream = new Blob([bytes as BlobPart]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (cause) {
    throw corrupt(file, 'a complete gzip stream', `gzip error: ${(cause as Error).message}`, cause);
  }
}

/** Decodes one picked file: gunzips when it starts with the gzip magic 1f 8b, then parses. */
export async function decodeIdxFile(bytes: Uint8Array, file: string): Promise<IdxArray> {
  const raw = bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b ? await gunzip(bytes, file) : bytes;
  return parseIdx(raw, file);
}

export interface NamedIdx {
  name: string;
  idx: IdxArray;
}

function missing(what: string, received: string): NatgradError {
  return new NatgradError('DATASET_MISSING', `No ${what} among the picked files.`, {
    expected: 'four IDX files: train images and labels, test (t10k) images and labels',
    received,
    fix: 'pick all four files at once (Ctrl/Shift-click in the file dialog)',
  });
}

/**
 * Sorts four decoded files into train/test images/labels: images are 3-D, labels 1-D; of two
 * images files the one named t10k/test is the test split, else the smaller one.
 */
export function assembleIdxDataset(files: readonly NamedIdx[], name = 'fashion-mnist'): ImageDataset {
  const listed = files.map((f) => `${f.name} (${f.idx.dims.join('x')})`).join(', ') || 'no files';
  const images = files.filter((f) => f.idx.dims.length === 3);
  const labels = files.filter((f) => f.idx.dims.length === 1);
  const other = files.find((f) => f.idx.dims.length !== 3 && f.idx.dims.length !== 1);
  if (other !== undefined) {
    throw new NatgradError('DATASET_INVALID', `${other.name} is neither an images (3-D) nor a labels (1-D) IDX file.`, {
      expected: 'N×28×28 images or N labels',
      received: other.idx.dims.join('x'),
      fix: 'pick only the four image and label files',
    });
  }
  if (images.length !== 2) throw missing('pair of images files (train and test)', listed);
  if (labels.length !== 2) throw missing('pair of labels files (train and test)', listed);
  const isTest = (f: NamedIdx) => /t10k|test/i.test(f.name);
  const order = (pair: NamedIdx[]): [NamedIdx, NamedIdx] => {
    const [a, b] = pair;
    if (isTest(a) !== isTest(b)) return isTest(a) ? [b, a] : [a, b];
    return a.idx.dims[0] >= b.idx.dims[0] ? [a, b] : [b, a];
  };
  const [trainImages, testImages] = order(images);
  const [trainLabels, testLabels] = order(labels);
  const [, h, w] = trainImages.idx.dims;
  if (testImages.idx.dims[1] !== h || testImages.idx.dims[2] !== w) {
    throw new NatgradError('DATASET_INVALID', 'The train and test images have different sizes.', {
      expected: `${h}x${w} in both`,
      received: `${trainImages.name}: ${trainImages.idx.dims.join('x')}, ${testImages.name}: ${testImages.idx.dims.join('x')}`,
      fix: 'pick the four files of one dataset',
    });
  }
  const split = (im: NamedIdx, lb: NamedIdx): ImageSplit => {
    if (im.idx.dims[0] !== lb.idx.dims[0]) {
      throw new NatgradError('DATASET_INVALID', `${im.name} and ${lb.name} hold different numbers of examples.`, {
        expected: 'as many labels as images',
        received: `${im.idx.dims[0]} images, ${lb.idx.dims[0]} labels`,
        fix: 'pair train-images with train-labels and t10k-images with t10k-labels',
      });
    }
    return { images: im.idx.data, labels: lb.idx.data, count: im.idx.dims[0] };
  };
  return checkDataset({
    name,
    height: h,
    width: w,
    channels: 1,
    numClasses: 10,
    train: split(trainImages, trainLabels),
    test: split(testImages, testLabels),
    source: `IDX files ${files.map((f) => f.name).join(', ')}`,
  });
}
