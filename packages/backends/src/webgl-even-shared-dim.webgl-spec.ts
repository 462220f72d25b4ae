// In Chromium on webgl (the browser tier, vitest.browser.config.ts): tfjs-backend-webgl 4.22's
// packed matMul sums the padding channels of an odd shared dimension, which element-wise ops fill
// with f(0). Measured against the cpu backend: the stock kernels are off by O(1), natgrad's
// wrappers (installed by selectBackend) agree within the float32 bound.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { installWebglKernelFixes, stockWebglKernel } from './webgl-even-shared-dim';

const U = 2 ** -24;
const WRAPPED = ['BatchMatMul', '_FusedMatMul', 'Conv2D', 'FusedConv2D'];

/** Inputs whose padding channels are nonzero on webgl: exp(0) = 1 lands in every padding slot. */
function input(shape: number[], seed: number): tf.Tensor {
  return tf.tidy(() => tf.exp(tf.mul(tf.randomUniform(shape, -1, 1, 'float32', seed), 0.5)));
}

async function values(backend: string, f: () => tf.Tensor): Promise<Float32Array> {
  if (!(await tf.setBackend(backend))) throw new Error(`the ${backend} backend failed to start`);
  const t = tf.tidy(f);
  const out = (await t.data()) as Float32Array;
  t.dispose();
  return out;
}

/** max |webgl − cpu| / max |cpu|. */
async function relDiff(f: () => tf.Tensor): Promise<number> {
  const gl = await values('webgl', f);
  const cpu = await values('cpu', f);
  await tf.setBackend('webgl');
  let diff = 0;
  let scale = 0;
  for (let i = 0; i < cpu.length; i++) {
    diff = Math.max(diff, Math.abs(gl[i] - cpu[i]));
    scale = Math.max(scale, Math.abs(cpu[i]));
  }
  return diff / scale;
}

/** Runs `fn` with tfjs's own kernels registered in place of natgrad's wrappers. */
async function withStockKernels(fn: () => Promise<void>): Promise<void> {
  const wrappers = WRAPPED.map((name) => tf.getKernel(name, 'webgl')!);
  const swap = (configs: tf.KernelConfig[]) => {
    for (const config of configs) {
      tf.unregisterKernel(config.kernelName, 'webgl');
      tf.registerKernel(config);
    }
  };
  swap(WRAPPED.map((name) => stockWebglKernel(name)!));
  try {
    await fn();
  } finally {
    swap(wrappers);
  }
}

const CASES: Record<string, { k: number; f: () => tf.Tensor }> = {
  'matMul (4×3)·(3×5)': { k: 3, f: () => tf.matMul(input([4, 3], 1), input([3, 5], 2)) },
  'matMul aᵀb, a and b 1×3 (KFAC G at batch size 1)': { k: 1, f: () => tf.matMul(input([1, 3], 1), input([1, 3], 2), true, false) },
  'matMul abᵀ, k = 7': { k: 7, f: () => tf.matMul(input([6, 7], 1), input([5, 7], 2), false, true) },
  'batched matMul, k = 3': { k: 3, f: () => tf.matMul(input([2, 4, 3], 1), input([2, 3, 5], 2)) },
  'fused matMul with bias, k = 3': { k: 3, f: () => tf.fused.matMul({ a: input([4, 3], 1) as tf.Tensor2D, b: input([3, 5], 2) as tf.Tensor2D, bias: input([5], 3) }) },
  'conv2d 1×1, 3 input channels': { k: 3, f: () => tf.conv2d(input([2, 5, 5, 3], 1) as tf.Tensor4D, input([1, 1, 3, 4], 2) as tf.Tensor4D, 1, 'same') },
  'fused conv2d 1×1 with bias, 1 input channel': {
    k: 1,
    f: () => tf.fused.conv2d({ x: input([2, 5, 5, 1], 1) as tf.Tensor4D, filter: input([1, 1, 1, 4], 2) as tf.Tensor4D, strides: 1, pad: 'same', bias: input([4], 3) }),
  },
};

describe('webgl: matMul over an odd shared dimension', () => {
  it('selectBackend installed the wrappers (idempotent)', () => {
    expect(tf.getBackend()).toBe('webgl');
    expect(installWebglKernelFixes().kernels).toEqual(Object.fromEntries(WRAPPED.map((n) => [n, 'already-installed'])));
  });

  it.each(Object.keys(CASES))('%s: natgrad matches cpu within 2γ_k + 4u; tfjs-webgl alone is off by > 1%%', async (name) => {
    const { k, f } = CASES[name];
    // exp inputs are positive, so |a||b| = |ab|: each side's relative error is ≤ γ_k (+ rounding).
    expect(await relDiff(f)).toBeLessThan((2 * k * U) / (1 - k * U) + 4 * U);
    await withStockKernels(async () => {
      expect(await relDiff(f)).toBeGreaterThan(0.01);
    });
  });

  it('the gradients of a 1×1 conv2d over 3 channels (not wrapped: tfjs runs them with other shaders) match cpu', async () => {
    // dy = r comes from exp too, so its padding channels are nonzero as well; all terms are positive.
    const x = () => input([2, 5, 5, 3], 1) as tf.Tensor4D;
    const w = () => input([1, 1, 3, 4], 2) as tf.Tensor4D;
    const r = () => input([2, 5, 5, 4], 3);
    const loss = (xs: tf.Tensor4D, ws: tf.Tensor4D) => tf.sum(tf.mul(tf.conv2d(xs, ws, 1, 'same'), r()));
    const dX = () => tf.grad((xs: tf.Tensor) => loss(xs as tf.Tensor4D, w()))(x());
    const dW = () => tf.grad((ws: tf.Tensor) => loss(x(), ws as tf.Tensor4D))(w());
    expect(await relDiff(dX)).toBeLessThan((2 * 4 * U) / (1 - 4 * U) + 4 * U);
    expect(await relDiff(dW)).toBeLessThan((2 * 50 * U) / (1 - 50 * U) + 4 * U);
  });

  it('an even shared dimension goes to the stock kernel untouched (no extra tensors)', async () => {
    const a = input([4, 4], 1);
    const b = input([4, 5], 2);
    const before = tf.memory().numTensors;
    const c = tf.matMul(a, b);
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(await relDiff(() => tf.matMul(input([4, 4], 1), input([4, 5], 2)))).toBeLessThan((8 * U) / (1 - 4 * U) + 4 * U);
    tf.dispose([a, b, c]);
  });
});
