import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { NatgradError } from '@natgrad/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { type FilterGradGeometry, filterGradient, tensorFilterGradOps } from './conv2d-backprop-filter';
import { maxAbsDiff, seededValues, sizeOf } from './test-helpers';
import { installWasmTrainingKernels } from './wasm-training-kernels';

/** dW straight from its definition (NHWC), in float64: the reference no backend shares. */
function referenceFilterGrad(
  x: Float32Array,
  xShape: number[],
  dy: Float32Array,
  dyShape: number[],
  g: FilterGradGeometry,
): Float64Array {
  const [b, h, w, ci] = xShape;
  const [, ho, wo, co] = dyShape;
  const [kh, kw] = g.filterShape;
  const out = new Float64Array(kh * kw * ci * co);
  for (let i = 0; i < kh; i++)
    for (let j = 0; j < kw; j++)
      for (let n = 0; n < b; n++)
        for (let p = 0; p < ho; p++)
          for (let q = 0; q < wo; q++) {
            const r = p * g.strides[0] + i * g.dilations[0] - g.pad.top;
            const c = q * g.strides[1] + j * g.dilations[1] - g.pad.left;
            if (r < 0 || r >= h || c < 0 || c >= w) continue;
            for (let u = 0; u < ci; u++) {
              const xv = x[((n * h + r) * w + c) * ci + u];
              for (let o = 0; o < co; o++) {
                out[((i * kw + j) * ci + u) * co + o] += xv * dy[((n * ho + p) * wo + q) * co + o];
              }
            }
          }
  return out;
}

interface Case {
  label: string;
  x: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  pad: 'same' | 'valid' | [[number, number], [number, number], [number, number], [number, number]];
  dilations?: [number, number];
}

const cases: Case[] = [
  { label: 'stride 2, same', x: [2, 7, 9, 3], filter: [3, 3, 3, 4], strides: [2, 2], pad: 'same' },
  { label: 'stride 1, valid', x: [2, 8, 8, 3], filter: [3, 3, 3, 5], strides: [1, 1], pad: 'valid' },
  { label: 'non-square filter, stride [2,1], valid, unused last row', x: [1, 10, 7, 2], filter: [2, 3, 2, 3], strides: [2, 1], pad: 'valid' },
  { label: 'non-square image, 5x1 filter, stride 3, same', x: [3, 11, 5, 2], filter: [5, 1, 2, 2], strides: [3, 3], pad: 'same' },
  { label: 'explicit asymmetric pads', x: [2, 6, 6, 2], filter: [3, 3, 2, 3], strides: [1, 2], pad: [[0, 0], [2, 0], [1, 3], [0, 0]] },
  { label: '1x1 filter', x: [2, 5, 5, 4], filter: [1, 1, 4, 3], strides: [1, 1], pad: 'valid' },
];

const dilatedCases: Case[] = [
  { label: 'dilation 2, same', x: [2, 9, 8, 3], filter: [3, 3, 3, 2], strides: [1, 1], pad: 'same', dilations: [2, 2] },
  { label: 'dilation [2,3], valid', x: [1, 10, 11, 2], filter: [3, 2, 2, 3], strides: [1, 1], pad: 'valid', dilations: [2, 3] },
];

function geometry(c: Case): FilterGradGeometry {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? 1, c.pad as 'same');
  return {
    filterShape: c.filter,
    strides: c.strides,
    dilations: c.dilations ?? [1, 1],
    pad: { top: info.padInfo.top, bottom: info.padInfo.bottom, left: info.padInfo.left, right: info.padInfo.right },
    dataFormat: 'NHWC',
  };
}

function dyShapeOf(c: Case): [number, number, number, number] {
  const info = tf.backend_util.computeConv2DInfo(c.x, c.filter, c.strides, c.dilations ?? 1, c.pad as 'same');
  return [c.x[0], info.outHeight, info.outWidth, c.filter[3]];
}

/** Runs the Conv2DBackpropFilter kernel of the active backend, returning its values. */
function runKernel(xv: Float32Array, c: Case, dyv: Float32Array, dataFormat: 'NHWC' | 'NCHW' = 'NHWC'): Float32Array {
  const out = tf.tidy(() => {
    let x: tf.Tensor = tf.tensor4d(xv, c.x);
    let dy: tf.Tensor = tf.tensor4d(dyv, dyShapeOf(c));
    if (dataFormat === 'NCHW') {
      x = tf.transpose(x, [0, 3, 1, 2]);
      dy = tf.transpose(dy, [0, 3, 1, 2]);
    }
    const attrs = { strides: c.strides, pad: c.pad, dataFormat, dimRoundingMode: undefined, filterShape: c.filter };
    return tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
  });
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}

beforeAll(async () => {
  installWasmTrainingKernels();
});

describe('filterGradient rewrite (tf ops, cpu)', () => {
  beforeAll(async () => {
    await tf.setBackend('cpu');
  });

  for (const c of [...cases, ...dilatedCases]) {
    it(`matches the definition: ${c.label}`, () => {
      const xv = seededValues(sizeOf(c.x), 1);
      const dyShape = dyShapeOf(c);
      const dyv = seededValues(sizeOf(dyShape), 2);
      const ref = referenceFilterGrad(xv, c.x, dyv, dyShape, geometry(c));
      const before = tf.memory().numTensors;
      const got = tf.tidy(() =>
        filterGradient(tensorFilterGradOps, tf.tensor4d(xv, c.x), tf.tensor4d(dyv, dyShape), geometry(c)),
      );
      expect(got.shape).toEqual(c.filter);
      expect(maxAbsDiff(got.dataSync(), ref)).toBeLessThan(1e-4);
      got.dispose();
      expect(tf.memory().numTensors).toBe(before);
    });
  }

  it('handles NCHW by permuting instead of converting', () => {
    const c = cases[0];
    const xv = seededValues(sizeOf(c.x), 3);
    const dyShape = dyShapeOf(c);
    const dyv = seededValues(sizeOf(dyShape), 4);
    const ref = referenceFilterGrad(xv, c.x, dyv, dyShape, geometry(c));
    const got = tf.tidy(() => {
      const x = tf.transpose(tf.tensor4d(xv, c.x), [0, 3, 1, 2]) as tf.Tensor4D;
      const dy = tf.transpose(tf.tensor4d(dyv, dyShape), [0, 3, 1, 2]) as tf.Tensor4D;
      return filterGradient(tensorFilterGradOps, x, dy, { ...geometry(c), dataFormat: 'NCHW' }).dataSync();
    });
    expect(maxAbsDiff(got, ref)).toBeLessThan(1e-4);
  });
});

describe('Conv2DBackpropFilter kernel on wasm', () => {
  beforeAll(async () => {
    await tf.setBackend('wasm');
  });

  for (const c of cases) {
    it(`equals the cpu kernel: ${c.label}`, async () => {
      const xv = seededValues(sizeOf(c.x), 5);
      const dyv = seededValues(sizeOf(dyShapeOf(c)), 6);
      await tf.setBackend('cpu');
      const expected = runKernel(xv, c, dyv);
      await tf.setBackend('wasm');
      const backend = tf.engine().backend;
      const tensorsBefore = tf.memory().numTensors;
      const dataBefore = backend.numDataIds();
      const got = runKernel(xv, c, dyv);
      // Intermediates (transposed x and dy, the rewritten conv's output) are freed in the backend too.
      expect(tf.memory().numTensors).toBe(tensorsBefore);
      expect(backend.numDataIds()).toBe(dataBefore);
      expect(maxAbsDiff(got, expected)).toBeLessThan(1e-4);
    });
  }

  it('equals the cpu kernel for NCHW inputs', async () => {
    const c = cases[0];
    const xv = seededValues(sizeOf(c.x), 7);
    const dyv = seededValues(sizeOf(dyShapeOf(c)), 8);
    await tf.setBackend('cpu');
    const expected = runKernel(xv, c, dyv, 'NCHW');
    await tf.setBackend('wasm');
    expect(maxAbsDiff(runKernel(xv, c, dyv, 'NCHW'), expected)).toBeLessThan(1e-4);
  });

  it('makes tf.grad of conv2d work end to end (both gradients equal cpu)', async () => {
    const c = cases[0];
    const xv = seededValues(sizeOf(c.x), 9);
    const fv = seededValues(sizeOf(c.filter), 10);
    const grads = () =>
      tf.tidy(() => {
        const loss = (x: tf.Tensor, f: tf.Tensor) =>
          tf.sum(tf.square(tf.conv2d(x as tf.Tensor4D, f as tf.Tensor4D, c.strides, 'same')));
        const [dx, df] = tf.grads(loss)([tf.tensor4d(xv, c.x), tf.tensor4d(fv, c.filter)]);
        return [dx.dataSync(), df.dataSync()];
      });
    await tf.setBackend('cpu');
    const [dxCpu, dfCpu] = grads();
    await tf.setBackend('wasm');
    const before = tf.memory().numTensors;
    const [dxWasm, dfWasm] = grads();
    expect(tf.memory().numTensors).toBe(before);
    expect(maxAbsDiff(dxWasm, dxCpu)).toBeLessThan(1e-4);
    expect(maxAbsDiff(dfWasm, dfCpu)).toBeLessThan(1e-3);
  });

  it('trains a tf.layers conv2d (fused conv + bias + relu gradient) like cpu', async () => {
    const step = () =>
      tf.tidy(() => {
        const layer = tf.layers.conv2d({
          filters: 4,
          kernelSize: 3,
          strides: 2,
          padding: 'same',
          activation: 'relu',
          kernelInitializer: tf.initializers.constant({ value: 0.05 }),
          biasInitializer: tf.initializers.constant({ value: 0.01 }),
        });
        const x = tf.tensor4d(seededValues(2 * 6 * 6 * 3, 11), [2, 6, 6, 3]);
        layer.apply(x);
        const { grads } = tf.variableGrads(() => tf.sum(layer.apply(x) as tf.Tensor) as tf.Scalar);
        const out = Object.values(grads).map((g) => g.dataSync());
        layer.dispose();
        return out;
      });
    await tf.setBackend('cpu');
    const expected = step();
    await tf.setBackend('wasm');
    const got = step();
    expect(got.length).toBe(2);
    for (let i = 0; i < got.length; i++) expect(maxAbsDiff(got[i], expected[i])).toBeLessThan(1e-3);
  });

  it('rejects a dy that does not match the convolution output', () => {
    const c = cases[0];
    const call = () =>
      tf.tidy(() =>
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.zeros(c.x), dy: tf.zeros([2, 3, 3, 4]) },
          { strides: c.strides, pad: 'valid', dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.NamedAttrMap,
        ),
      );
    expect(call).toThrow(NatgradError);
    expect(call).toThrow(/dy does not match/);
  });

  it('rejects non-float32 inputs with a NatgradError', () => {
    const c = cases[1];
    const call = () =>
      tf.tidy(() =>
        tf.engine().runKernel(
          'Conv2DBackpropFilter',
          { x: tf.zeros(c.x, 'int32'), dy: tf.zeros(dyShapeOf(c), 'int32') },
          { strides: c.strides, pad: c.pad, dataFormat: 'NHWC', filterShape: c.filter } as unknown as tf.NamedAttrMap,
        ),
      );
    expect(call).toThrow(/float32 only/);
  });
});
