import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { convProblem, flat, relError } from '../testing/brute-force';
import { extractPatches } from './patches';

const GEOMETRIES = [
  { label: 'stride 2, same', strides: [2, 2], dilation: [1, 1], padding: 'same', size: [5, 6], kernel: [3, 3] },
  { label: 'stride 2, valid', strides: [2, 2], dilation: [1, 1], padding: 'valid', size: [6, 5], kernel: [3, 2] },
  { label: 'dilation 2, same', strides: [1, 1], dilation: [2, 2], padding: 'same', size: [5, 5], kernel: [3, 3] },
  { label: 'dilation 2, valid', strides: [1, 1], dilation: [2, 2], padding: 'valid', size: [6, 6], kernel: [2, 3] },
  { label: '1x1, stride 1', strides: [1, 1], dilation: [1, 1], padding: 'valid', size: [3, 4], kernel: [1, 1] },
] as const;

describe('extractPatches', () => {
  for (const g of GEOMETRIES) {
    it(`matches brute-force im2col and tf.conv2d (${g.label})`, async () => {
      const p = await convProblem(11, { n: 2, cin: 2, cout: 3, size: [...g.size], kernel: [...g.kernel], strides: [...g.strides], dilation: [...g.dilation], padding: g.padding });
      const before = tf.memory().numTensors;
      const patches = extractPatches(p.x, p.layer);
      expect(tf.memory().numTensors).toBe(before + 1);
      expect(patches.shape).toEqual([p.patches.length, g.kernel[0] * g.kernel[1] * 2]);
      expect(relError(await patches.data(), flat(p.patches))).toBeLessThan(1e-7);
      // The forward of the model itself: patches x kernel flattened [kh*kw*cin, cout] is the conv.
      const viaPatches = tf.tidy(() => tf.matMul(patches, tf.reshape(p.kernel, [-1, 3])));
      const conv = tf.tidy(() => tf.reshape(tf.conv2d(p.x, p.kernel as unknown as tf.Tensor4D, [...g.strides], g.padding, 'NHWC', [...g.dilation]), [-1, 3]));
      expect(relError(await viaPatches.data(), await conv.data())).toBeLessThan(1e-5);
      tf.dispose([patches, viaPatches, conv]);
      p.dispose();
    });
  }
});
