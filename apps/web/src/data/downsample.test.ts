import { describe, expect, it } from 'vitest';
import { downsampleDataset } from './downsample';
import type { ImageDataset } from './image-dataset';

const split = { images: Uint8Array.from({ length: 2 * 16 }, (_, i) => i), labels: new Uint8Array([3, 4]), count: 2 };
const d: ImageDataset = { name: 't', height: 4, width: 4, channels: 1, numClasses: 10, train: split, test: split, source: 's' };

describe('downsampling', () => {
  it('average-pools each 2×2 block, keeps labels and counts', () => {
    const half = downsampleDataset(d, 2);
    expect([half.height, half.width]).toEqual([2, 2]);
    // Image 0 is 0..15 row-major: block (0,0) holds 0, 1, 4, 5 → 2.5 → 3 (rounded).
    expect(Array.from(half.train.images.subarray(0, 4))).toEqual([3, 5, 11, 13]);
    expect(Array.from(half.train.images.subarray(4, 8))).toEqual([19, 21, 27, 29]);
    expect(half.train.labels).toBe(split.labels);
    expect(downsampleDataset(d, 1)).toBe(d);
  });

  it('refuses a factor that does not divide the side', () => {
    expect(() => downsampleDataset(d, 3)).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  });
});
