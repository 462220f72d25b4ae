import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { type InputGradGeometry, inputGradient, tensorInputGradOps } from './conv2d-backprop-input';
import { maxAbsDiff, seededValues, sizeOf } from './test-helpers';
import { installWasmTrainingKernels } from './wasm-training-kernels';

type Pad = 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  label: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: Pad;
}

const cases: Case[] = [
  { label: 'stride 1, same', x: [2, 6, 7, 3], filter: [3, 3, 3, 4], strides: [1, 1], pad: 'same' },
  { label: 'stride 2, same', x: [2, 7, 9, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { label: 'stride 1, valid', x: [2, 8, 8, 3], filter: [3, 3, 3, 5], strides: [1, 1], pad: 'valid' },
  { label: 'non-square, stride [2,1], valid, unused last row', x: [1, 10, 7, 2], filter: [2, 3, 2, 3], strides: [2, 1], pad: 'valid' },
  { label: '5x1 filter, stride 3, same', x: [3, 11, 5, 2], filter: [5, 1, 2, 2], strides: [3, 3], pad: 'same' },
  { label: 'explicit pads, one wider than the filter', x: [2, 6, 6, 2], filter: [3, 3, 2, 3], strides: [1, 2], pad: [[0, 0], [3, 0], [1, 3], [0, 0]] },
  { label: '1x1 filter, stride 2', x: [2, 5, 5, 4], filter: [1, 1, 4, 3], strides: [2, 2], pad: 'valid' },
];

function info(c: Case) {
  return tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, 1, c.pad as 'same');
}

function geometry(c: Case): InputGradGeometry {
  const p = info(c).padInfo;
  return { inputShape: c.x, strides: c.strides, pad: { top: p.top, bottom: p.bottom, left: p.left, right: p.right } };
}

const dyShapeOf = (c: Case): [number, number, number, number] => [c.x[0], info(c).outHeight, info(c).outWidth, c.filter[3]];

/** dx straight from the definition of the convolution, in float64. */
function referenceInputGrad(dy: Float32Array, w: Float32Array, c: Case): Float64Array {
  const [b, h, wd, ci] = c.x;
  const [, ho, wo, co] = dyShapeOf(c);
  const [kh, kw] = c.filter;
  const g = geometry(c);
  const out = new Float64Array(sizeOf(c.x));
  for (let n = 0; n < b; n++)
    for (let p = 0; p < ho; p++)
      for (let q = 0; q < wo; q++)
        for (let i = 0; i < kh; i++)
          for (let j = 0; j < kw; j++) {
            const r = p * c.strides[0] + i - g.pad.top;
            const s = q * c.strides[1] + j - g.pad.left;
            if (r < 0 || r >= h || s < 0 || s >= wd) continue;
            for (let u = 0; u < ci; u++)
              for (let o = 0; o < co; o++) {
                out[((n * h + r) * wd + s) * ci + u] += dy[((n * ho + p) * wo + q) * co + o] * w[((i * kw + j) * ci + u) * co + o];
              }
          }
  return out;
}

function runKernel(dyv: Float32Array, wv: Float32Array, c: Case): Float32Array {
  const out = tf.tidy(() => {
    const dy = tf.tensor4d(dyv, dyShapeOf(c));
    const filter = tf.tensor4d(wv, c.filter);
    const attrs = { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', dimRoundingMode: undefined, inputShape: c.x };
    return tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  });
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}

describe('inputGradient rewrite (tf ops, cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });
  for (const c of cases) {
    it(`matches the definition: ${c.label}`, () => {
      const dyv = seededValues(sizeOf(dyShapeOf(c)), 1);
      const wv = seededValues(sizeOf(c.filter), 2);
      const before = tf.memory().numTensors;
      const got = tf.tidy(() =>
        inputGradient(tensorInputGradOps, tf.tensor4d(dyv, dyShapeOf(c)), tf.tensor4d(wv, c.filter), geometry(c)),
      );
      expect(got.shape).toEqual(c.x);
      expect(maxAbsDiff(got.dataSync(), referenceInputGrad(dyv, wv, c))).toBeLessThan(1e-4);
      got.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }
});

describe('Conv2DBackpropInput on wasm (XNNPACK rewrite)', () => {
  beforeAll(async () => {
    installWasmTrainingKernels();
    await tf.setBackend('wasm');
  });
  for (const c of cases) {
    it(`equals the cpu kernel: ${c.label}`, async () => {
      const dyv = seededValues(sizeOf(dyShapeOf(c)), 3);
      const wv = seededValues(sizeOf(c.filter), 4);
      await tf.setBackend('cpu');
      const expected = runKernel(dyv, wv, c);
      await tf.setBackend('wasm');
      const backend = tf.engine().backend;
      const tensorsBefore = tf.memory().numTensors;
      const dataBefore = backend.numDataIds();
      const got = runKernel(dyv, wv, c);
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(backend.numDataIds()).toBe(dataBefore);
      expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
    });
  }
});
