import * as tf from '@tensorflow/tfjs';
import { type CurvatureView, NatgradError, type ParamMap } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { quadraticModelChange, readReductionRatio, reductionRatio } from './index';
import { onDefaultLimitWebgpu } from '../../../test/webgpu-limits';

const U = 2 ** -24;
/** γ_k = k·u/(1 − k·u): relative error bound of a k-term float32 sum of products (Higham 2nd ed., eq. (3.13)). */
const gamma = (k: number) => (k * U) / (1 - k * U);

// Block "L" = [kernel (2x1), bias (1)] with an explicit 3x3 F; "free" is in no block.
const F = [
  [2, 0.5, 0],
  [0.5, 1, 0.2],
  [0, 0.2, 3],
];
const view: CurvatureView = {
  blocks: [{ name: 'L', params: ['k', 'b'] }],
  precondition: () => ({}),
  multiply: (v) =>
    tf.tidy(() => {
      const x = tf.concat([tf.reshape(v.k, [-1]), v.b]);
      const fx = tf.reshape(tf.matMul(tf.tensor2d(F), tf.reshape(x, [3, 1])), [3]);
      return { k: tf.reshape(tf.slice(fx, 0, 2), [2, 1]), b: tf.slice(fx, 2, 1) };
    }),
};

describe('quadraticModelChange()', () => {
  it('computes g^T d + 1/2 d^T (F + lambda I) d on the device, leaking nothing', async () => {
    const g = { k: tf.tensor2d([[0.3], [-1]]), b: tf.tensor1d([2]), free: tf.tensor1d([1, -1]) };
    const d = { k: tf.tensor2d([[-0.5], [0.25]]), b: tf.tensor1d([0.1]), free: tf.tensor1d([0.2, 0.4]) };
    const before = tf.memory().numTensors;
    const q = quadraticModelChange(g, d, view, 0.1);
    expect(tf.memory().numTensors).toBe(before + 1);
    const gv = [0.3, -1, 2, 1, -1];
    const dv = [-0.5, 0.25, 0.1, 0.2, 0.4];
    const blockD = dv.slice(0, 3);
    const dFd = blockD.reduce((s, x, i) => s + x * F[i].reduce((t, fij, j) => t + fij * blockD[j], 0), 0);
    const expected = gv.reduce((s, x, i) => s + x * dv[i], 0) + 0.5 * (dFd + 0.1 * dv.reduce((s, x) => s + x * x, 0));
    expect(q.shape).toEqual([]);
    expect((await q.data())[0]).toBeCloseTo(expected, 5);
    q.dispose();
    tf.dispose([...Object.values(g), ...Object.values(d)]);
  });

  it('sums 11 parameter tensors (5 dense layers and a free one) right, also on WebGPU with 8 storage buffers per stage', async () => {
    // 11 gradient terms and 21 curvature terms: tf.addN of them binds more than WebGPU's default 8
    // storage buffers, so on the default-limits device plain addN fails validation (DEVICE_ERROR on read).
    const widths = [3, 4, 4, 3, 3, 2];
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return Math.fround(seed / 2147483648 - 0.5);
    };
    const layers = widths.slice(1).map((out, i) => {
      const size = widths[i] * out + out;
      const m = Array.from({ length: size * size }, rand);
      // F = M Mᵀ / size: symmetric PSD, entries O(1), formed in float64 and rounded once.
      const f = Array.from({ length: size * size }, (_, k) => {
        const [r, c] = [Math.floor(k / size), k % size];
        let s = 0;
        for (let j = 0; j < size; j++) s += m[r * size + j] * m[c * size + j];
        return Math.fround(s / size);
      });
      return { name: `dense_${i}`, kernel: [widths[i], out] as [number, number], size, f };
    });
    const lambda = 0.05;
    const g: Record<string, number[]> = {};
    const d: Record<string, number[]> = {};
    const shapes: Record<string, number[]> = {};
    for (const l of layers) {
      shapes[`${l.name}/kernel`] = l.kernel;
      shapes[`${l.name}/bias`] = [l.kernel[1]];
    }
    shapes['norm/gamma'] = [5];
    for (const [name, shape] of Object.entries(shapes)) {
      const n = shape.reduce((a, b) => a * b, 1);
      g[name] = Array.from({ length: n }, rand);
      d[name] = Array.from({ length: n }, rand);
    }
    // Direct float64 computation, and the sum of |terms| that bounds the float32 rounding of q.
    let expected = 0;
    let magnitude = 0;
    for (const name of Object.keys(shapes)) {
      g[name].forEach((gi, i) => {
        const di = d[name][i];
        expected += gi * di + 0.5 * lambda * di * di;
        magnitude += Math.abs(gi * di) + 0.5 * lambda * di * di;
      });
    }
    for (const l of layers) {
      const x = [...d[`${l.name}/kernel`], ...d[`${l.name}/bias`]];
      for (let r = 0; r < l.size; r++) {
        for (let c = 0; c < l.size; c++) {
          expected += 0.5 * x[r] * l.f[r * l.size + c] * x[c];
          magnitude += 0.5 * Math.abs(x[r] * l.f[r * l.size + c] * x[c]);
        }
      }
    }
    // Float32 on the device: every product and partial sum rounds, so |q − q̂| ≤ γ_K·Σ|terms| with K the
    // longest chain of roundings: a (F δ)_i dot product over a block, the product with δ_i, the sum over the
    // block, the sum of the curvature terms (one per parameter tensor and one per block parameter), then
    // halving (exact) and adding the gradient part.
    const blockMax = Math.max(...layers.map((l) => l.size));
    const curvatureTerms = Object.keys(shapes).length + 2 * layers.length;
    const k = blockMax + 1 + blockMax + curvatureTerms + 1;
    const tolerance = gamma(k) * magnitude;

    const check = async () => {
      const view: CurvatureView = {
        blocks: layers.map((l) => ({ name: l.name, params: [`${l.name}/kernel`, `${l.name}/bias`] })),
        precondition: () => ({}),
        multiply: (v) =>
          tf.tidy(() => {
            const out: ParamMap = {};
            for (const l of layers) {
              const kn = `${l.name}/kernel`;
              const bn = `${l.name}/bias`;
              const x = tf.concat([tf.reshape(v[kn], [-1]), v[bn]]);
              const fx = tf.reshape(tf.matMul(tf.tensor2d(l.f, [l.size, l.size]), tf.reshape(x, [l.size, 1])), [l.size]);
              const kSize = l.kernel[0] * l.kernel[1];
              out[kn] = tf.reshape(tf.slice(fx, 0, kSize), l.kernel);
              out[bn] = tf.slice(fx, kSize, l.kernel[1]);
            }
            return out;
          }),
      };
      const gT: ParamMap = {};
      const dT: ParamMap = {};
      for (const [name, shape] of Object.entries(shapes)) {
        gT[name] = tf.tensor(g[name], shape);
        dT[name] = tf.tensor(d[name], shape);
      }
      const count = tf.memory().numTensors;
      const q = quadraticModelChange(gT, dT, view, lambda);
      expect(tf.memory().numTensors).toBe(count + 1);
      try {
        expect(Math.abs((await q.data())[0] - expected)).toBeLessThanOrEqual(tolerance);
      } finally {
        tf.dispose([q, ...Object.values(gT), ...Object.values(dT)]);
      }
    };
    await check();
    await onDefaultLimitWebgpu(check);
  });

  it('rejects mismatched maps, partial blocks, bad damping', () => {
    const g = { k: tf.zeros([2, 1]), b: tf.zeros([1]) };
    const before = tf.memory().numTensors;
    expect(() => quadraticModelChange(g, { k: g.k }, view, 0)).toThrow(/different parameters/);
    expect(() => quadraticModelChange({ k: g.k }, { k: g.k }, view, 0)).toThrow(/only part of block/);
    expect(() => quadraticModelChange(g, { k: g.k, b: g.k }, view, 0)).toThrow(/shapes/);
    expect(() => quadraticModelChange(g, g, view, -1)).toThrow(NatgradError);
    expect(() => quadraticModelChange(g, g, {} as never, 0)).toThrow(NatgradError);
    const broken = { ...view, multiply: () => ({}) };
    expect(() => quadraticModelChange(g, g, broken, 0)).toThrow(/multiply\(\) returned no valid result/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(g));
  });
});

describe('reductionRatio() and readReductionRatio()', () => {
  it('is (after - before) / q on numbers; tensors are read in one transfer and stay the caller\'s', async () => {
    expect(reductionRatio(10, 9, -2)).toBeCloseTo(0.5, 15);
    const before = tf.scalar(3);
    const q = tf.scalar(-4);
    const ten = tf.tensor1d([10]);
    const seven = tf.scalar(7, 'int32');
    const pair = tf.ones([2]);
    const count = tf.memory().numTensors;
    expect(await readReductionRatio(before, 1, q)).toBeCloseTo(0.5, 6);
    expect(await readReductionRatio(10, 9, -2)).toBeCloseTo(0.5, 15);
    expect(await readReductionRatio(ten, seven, q)).toBeCloseTo(0.75, 6);
    await expect(readReductionRatio(pair, 1, -1)).rejects.toThrow(NatgradError);
    expect(tf.memory().numTensors).toBe(count);
    expect(q.isDisposed).toBe(false);
    // The synchronous one never reads the device: a tensor is a usage error whose fix names the reader.
    expect(() => reductionRatio(before as never, 1, -1)).toThrow(/readReductionRatio/);
    tf.dispose([before, q, ten, seven, pair]);
  });

  it('guards q ~ 0 and non-finite inputs', () => {
    expect(reductionRatio(Number.NaN, 1, -1)).toBeNaN();
    expect(reductionRatio(1, Number.POSITIVE_INFINITY, -1)).toBeNaN();
    expect(reductionRatio(1, 1, 0)).toBe(1);
    expect(reductionRatio(1, 1 + 1e-14, 1e-14)).toBe(1);
    expect(reductionRatio(1, 0.5, 0)).toBe(Number.POSITIVE_INFINITY);
    expect(reductionRatio(1, 1.5, 1e-3)).toBe(Number.NEGATIVE_INFINITY);
    expect(() => reductionRatio('1' as never, 1, 1)).toThrow(NatgradError);
  });
});
