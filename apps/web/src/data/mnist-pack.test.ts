import { describe, expect, it } from 'vitest';
import { type MnistDigitClass, packMnist } from './mnist-pack';
import { unpackMnist } from './mnist-unpack';

const PIXELS = 784;

/** Class c's image i has every pixel (c * 10 + i) / 255, so each byte names its origin. */
function classes(perClass: number): MnistDigitClass[] {
  return Array.from({ length: 10 }, (_, id) => {
    const raw = new Float64Array(perClass * PIXELS);
    for (let i = 0; i < perClass; i++) raw.fill((id * 10 + i) / 255, i * PIXELS, (i + 1) * PIXELS);
    return { id, raw };
  });
}

describe('packed embedded MNIST', () => {
  it('round-trips the CLI split: the first 80% of each class trains, the rest tests, pixels and labels intact', () => {
    const d = unpackMnist(packMnist(classes(5)));
    expect(d.train.count).toBe(40);
    expect(d.test.count).toBe(10);
    expect(d.numClasses).toBe(10);
    // Train: class 0 images 0..3, then class 1 images 0..3, ...; test: image 4 of each class.
    expect(Array.from(d.train.labels.subarray(0, 8))).toEqual([0, 0, 0, 0, 1, 1, 1, 1]);
    expect(d.train.images[5 * PIXELS]).toBe(11); // class 1, image 1
    expect(Array.from(d.test.labels)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(d.test.images[3 * PIXELS + 100]).toBe(34); // class 3, image 4
  });

  it('refuses a wrong magic, version or length with DATASET_INVALID naming what it got', () => {
    const good = packMnist(classes(2));
    const html = new TextEncoder().encode('<!doctype html><html>');
    expect(() => unpackMnist(html)).toThrow(expect.objectContaining({ code: 'DATASET_INVALID' }));
    const otherVersion = good.slice();
    otherVersion[4] = 9;
    expect(() => unpackMnist(otherVersion)).toThrow(/version/);
    expect(() => unpackMnist(good.subarray(0, good.length - 1))).toThrow(expect.objectContaining({ code: 'DATASET_INVALID' }));
  });
});
