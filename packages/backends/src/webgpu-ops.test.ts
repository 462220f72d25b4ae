/**
 * Op audit on WebGPU: every tfjs op natgrad's packages and app call (grep `tf\.[a-zA-Z]+\(` in
 * packages/*\/src and apps/*\/src), plus the gradients of the layers the app builds, run on the
 * WebGPU backend and compared with the cpu backend on small seeded inputs. It runs in CI's WebGPU
 * tier (NATGRAD_TEST_BACKEND=webgpu, Mesa lavapipe) and is skipped on every other test backend.
 *
 * Known broken on tfjs-backend-webgpu 4.22 (asserted below, so a fix upstream shows up here):
 * - tf.pad of rank 5 and 6: its WGSL indexes vec5/vec6, which do not exist, so the pipeline is
 *   invalid and the op read as zeros (natgrad's device now turns that into DEVICE_ERROR). natgrad
 *   pads rank 4 at most off wasm (the rank-6 pad of conv2d-backprop-input.ts is a wasm kernel).
 * - tf.addN needs one storage buffer per input plus the output; WebGPU's default is 8 per shader
 *   stage. natgrad's device raises the limit to the adapter's (16 on lavapipe, more on GPUs) and
 *   sums through sumTensors (chunks of 7), so it never depends on the raised limit.
 *
 * Tolerances: cpu accumulates sums in float64, WebGPU in float32, so a result that sums k terms
 * may differ by about k·eps32·Σ|terms| (eps32 = 2^-23, the float32 unit roundoff doubled is
 * machine epsilon); transcendental functions in WGSL carry a few ulp of their own. Each case gives
 * its k; the bound is (k + ulps)·eps32·scale with scale = max(1, max |term|-ish magnitude).
 */
import * as tf from '@tensorflow/tfjs';
import { sumTensors } from '@natgrad/core';
import { beforeAll, describe, expect, it } from 'vitest';
import { checkWebgpuErrors } from './device-errors';
import { seededValues, sizeOf } from './test-helpers';

const onWebgpu = process.env.NATGRAD_TEST_BACKEND === 'webgpu';
const EPS32 = 2 ** -23;

/** Host inputs, rebuilt as tensors on each backend (a tensor moved off WebGPU would need readSync). */
type Inputs = Record<string, { shape: number[]; values: Float32Array | Int32Array; dtype?: 'float32' | 'int32' | 'bool' }>;
type Build = (t: Record<string, tf.Tensor>) => tf.Tensor | tf.Tensor[];

const rnd = (shape: number[], seed: number, scale = 1) => ({ shape, values: seededValues(sizeOf(shape), seed).map((v) => v * scale) });
const pos = (shape: number[], seed: number) => ({ shape, values: seededValues(sizeOf(shape), seed).map((v) => 0.5 + Math.abs(v)) });
const ints = (shape: number[], values: number[]) => ({ shape, values: Int32Array.from(values), dtype: 'int32' as const });

/** Runs `build` on `backend` and reads every output (awaited: WebGPU has no synchronous read). */
async function runOn(backend: string, inputs: Inputs, build: Build): Promise<{ shape: number[]; dtype: string; values: Float32Array }[]> {
  await tf.setBackend(backend);
  const before = tf.memory().numTensors;
  const outputs = tf.tidy(() => {
    const t: Record<string, tf.Tensor> = {};
    for (const [name, { shape, values, dtype }] of Object.entries(inputs)) t[name] = tf.tensor(values, shape, dtype ?? (values instanceof Int32Array ? 'int32' : 'float32'));
    const out = build(t);
    return Array.isArray(out) ? out : [out];
  });
  try {
    const read = [];
    for (const o of outputs) read.push({ shape: o.shape, dtype: o.dtype, values: Float32Array.from(await o.data()) });
    if (backend === 'webgpu') await checkWebgpuErrors();
    return read;
  } finally {
    tf.dispose(outputs);
    expect(tf.memory().numTensors).toBe(before);
  }
}

interface Case {
  name: string;
  inputs: Inputs;
  build: Build;
  /** Terms summed per output entry (reductions, matMul inner size); 1 for elementwise ops. */
  k?: number;
  /** Extra ulps of WGSL's transcendental functions. */
  ulps?: number;
}

/** The largest |webgpu - cpu| over all outputs, and the bound it must stay within. */
async function compare(c: Case): Promise<{ worst: number; bound: number }> {
  const gpu = await runOn('webgpu', c.inputs, c.build);
  const cpu = await runOn('cpu', c.inputs, c.build);
  await tf.setBackend('webgpu');
  expect(gpu.map((o) => [o.shape, o.dtype])).toEqual(cpu.map((o) => [o.shape, o.dtype]));
  let worst = 0;
  let bound = 0;
  for (let i = 0; i < cpu.length; i++) {
    let scale = 1;
    for (const v of cpu[i].values) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    for (const input of Object.values(c.inputs)) for (const v of input.values) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
    const b = ((c.k ?? 1) + (c.ulps ?? 4)) * EPS32 * scale * 4;
    bound = Math.max(bound, b);
    for (let j = 0; j < cpu[i].values.length; j++) {
      const a = gpu[i].values[j];
      const r = cpu[i].values[j];
      // Same non-finite values (NaN, ±Infinity) count as equal.
      const d = Number.isFinite(r) || Number.isFinite(a) ? Math.abs(a - r) : Object.is(a, r) || (Number.isNaN(a) && Number.isNaN(r)) ? 0 : Number.POSITIVE_INFINITY;
      worst = Math.max(worst, Number.isNaN(d) ? Number.POSITIVE_INFINITY : d / b);
    }
  }
  return { worst, bound };
}

const x23 = rnd([2, 3], 1);
const y23 = rnd([2, 3], 2);
const m = rnd([4, 6], 3);

/** The ops natgrad calls, grouped as in the source (tensor algebra, reductions, shapes, nn). */
const CASES: Case[] = [
  { name: 'add / sub / mul / div (broadcast)', inputs: { x: x23, y: y23, p: pos([1, 3], 4) }, build: ({ x, y, p }) => [tf.add(x, y), tf.sub(x, p), tf.mul(x, y), tf.div(x, p)] },
  { name: 'square / neg / abs / sqrt / reciprocal / floor', inputs: { x: rnd([3, 4], 5, 3), p: pos([3, 4], 6) }, build: ({ x, p }) => [tf.square(x), tf.neg(x), tf.abs(x), tf.sqrt(p), tf.reciprocal(p), tf.floor(x)] },
  { name: 'log / pow / tanh / elu / relu', inputs: { x: rnd([3, 4], 7, 2), p: pos([3, 4], 8) }, build: ({ x, p }) => [tf.log(p), tf.pow(p, 1.5), tf.tanh(x), tf.elu(x), tf.relu(x)], ulps: 64 },
  { name: 'maximum / minimum / clipByValue / squaredDifference', inputs: { x: x23, y: y23 }, build: ({ x, y }) => [tf.maximum(x, y), tf.minimum(x, 0.1), tf.clipByValue(x, -0.3, 0.4), tf.squaredDifference(x, y)] },
  {
    name: 'equal / lessEqual / greater / where / isFinite / all / cast',
    inputs: { x: x23, y: y23, z: { shape: [4], values: Float32Array.from([1, Number.NaN, Number.POSITIVE_INFINITY, -2]) } },
    build: ({ x, y, z }) => [
      tf.cast(tf.equal(x, x), 'float32'),
      tf.cast(tf.lessEqual(x, y), 'int32'),
      tf.cast(tf.greater(x, 0), 'float32'),
      tf.where(tf.greater(x, y), x, y),
      tf.cast(tf.isFinite(z), 'float32'),
      tf.cast(tf.all(tf.isFinite(z)), 'float32'),
      tf.cast(tf.all(tf.isFinite(x)), 'float32'),
    ],
  },
  {
    name: 'matMul (all transposes) / outerProduct',
    inputs: { a: rnd([5, 7], 9), b: rnd([7, 3], 10), at: rnd([7, 5], 11), bt: rnd([3, 7], 12), u: rnd([4], 13), v: rnd([5], 14) },
    build: ({ a, b, at, bt, u, v }) => [tf.matMul(a, b), tf.matMul(at, b, true, false), tf.matMul(a, bt, false, true), tf.matMul(at, bt, true, true), tf.outerProduct(u as tf.Tensor1D, v as tf.Tensor1D)],
    k: 7,
  },
  { name: 'matMul batched (rank 3)', inputs: { a: rnd([2, 4, 6], 15), b: rnd([2, 6, 3], 16) }, build: ({ a, b }) => tf.matMul(a as tf.Tensor3D, b as tf.Tensor3D), k: 6 },
  { name: 'sum / mean / max / argMax / cumsum', inputs: { x: rnd([5, 9], 17) }, build: ({ x }) => [tf.sum(x), tf.sum(x, 0), tf.sum(x, 1, true), tf.mean(x, 0), tf.max(x, 1), tf.argMax(x, 1), tf.cumsum(x, 1)], k: 45 },
  { name: 'softmax / logSoftmax', inputs: { x: rnd([4, 10], 18, 3) }, build: ({ x }) => [tf.softmax(x), tf.logSoftmax(x)], k: 10, ulps: 64 },
  { name: 'reshape / transpose / expandDims / reverse / tile', inputs: { x: m }, build: ({ x }) => [tf.reshape(x, [2, 12]), tf.transpose(x), tf.transpose(tf.reshape(x, [2, 3, 4]), [2, 0, 1]), tf.expandDims(x, 1), tf.reverse(x, [0, 1]), tf.tile(x, [2, 1])] },
  {
    name: 'slice / stridedSlice / split / unstack / gather',
    inputs: { x: rnd([4, 6, 2], 19), idx: ints([3], [3, 0, 2]) },
    build: ({ x, idx }) => [
      tf.slice(x, [1, 2, 0], [2, 3, 2]),
      tf.stridedSlice(x, [0, 0, 0], [4, 5, 2], [1, 2, 1]),
      ...tf.split(x, [2, 2], 0),
      ...tf.split(x, 3, 1),
      ...tf.unstack(x, 2),
      tf.gather(x, idx, 0),
      tf.gather(x, idx.slice([0], [2]), 1),
    ],
  },
  {
    name: 'concat / stack of 2, 7 and 12 tensors',
    inputs: Object.fromEntries(Array.from({ length: 12 }, (_, i) => [`t${i}`, rnd([2, 3], 20 + i)])),
    build: (t) => {
      const all = Object.values(t);
      return [tf.concat(all.slice(0, 2), 0), tf.concat(all.slice(0, 7), 1), tf.concat(all, 0), tf.stack(all.slice(0, 7)), tf.stack(all, 1)];
    },
  },
  {
    name: 'oneHot / eye / range / fill / zeros / ones / zerosLike / onesLike / clone',
    inputs: { labels: ints([5], [0, 3, 1, 9, 2]), x: x23 },
    build: ({ labels, x }) => [tf.oneHot(labels as tf.Tensor1D, 10), tf.eye(4), tf.range(0, 7, 2), tf.fill([2, 2], 3.5), tf.zeros([3]), tf.ones([2, 1]), tf.zerosLike(x), tf.onesLike(x), tf.clone(x)],
  },
  {
    name: 'randomNormal / randomUniform with a seed (drawn on the host: identical values)',
    inputs: {},
    build: () => [tf.randomNormal([3, 5], 0, 1, 'float32', 7), tf.randomUniform([4, 2], -1, 1, 'float32', 8)],
  },
  {
    name: 'conv2d (valid / same, strides, dilation)',
    inputs: { x: rnd([2, 6, 6, 3], 40), w: rnd([3, 3, 3, 4], 41) },
    build: ({ x, w }) => [
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'valid'),
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 'same'),
      tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 'same', 'NHWC', 2),
    ],
    k: 27,
  },
  {
    name: 'depthwiseConv2d with the identity-tap filter of KFAC patch extraction (dilated, strided)',
    inputs: { x: rnd([2, 7, 7, 2], 42) },
    build: ({ x }) => {
      const filter = tf.tile(tf.reshape(tf.eye(9), [3, 3, 1, 9]), [1, 1, 2, 1]) as tf.Tensor4D;
      const padded = tf.pad(x, [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D;
      return [tf.depthwiseConv2d(padded, filter, [2, 2], 'valid'), tf.depthwiseConv2d(padded, filter, [1, 1], 'valid', 'NHWC', [2, 2])];
    },
    k: 9,
  },
  { name: 'pad of rank 1 to 4', inputs: { a: rnd([3], 43), b: rnd([2, 3], 44), c: rnd([2, 2, 3], 45), d: rnd([1, 3, 2, 2], 46) }, build: ({ a, b, c, d }) => [tf.pad(a, [[1, 2]]), tf.pad(b, [[0, 1], [2, 0]]), tf.pad(c, [[1, 0], [0, 1], [1, 1]]), tf.pad(d, [[0, 0], [1, 2], [0, 1], [0, 0]], 0.5)] },
  {
    name: 'addN of 2 and 7 inputs, sumTensors of 7, 8, 9 and 16',
    inputs: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, rnd([3, 2], 60 + i)])),
    build: (t) => {
      const all = Object.values(t);
      return [tf.addN(all.slice(0, 2)), tf.addN(all.slice(0, 7)), sumTensors(all.slice(0, 7)), sumTensors(all.slice(0, 8)), sumTensors(all.slice(0, 9)), sumTensors(all)];
    },
    k: 16,
  },
  {
    name: 'gradients: tf.grads / tf.grad / customGrad through matMul, softmax cross-entropy, elu, tanh',
    inputs: { w: rnd([5, 4], 80), x: rnd([6, 5], 81), y: { shape: [6, 4], values: (() => { const v = new Float32Array(24); for (let r = 0; r < 6; r++) v[r * 4 + (r % 4)] = 1; return v; })() } },
    build: ({ w, x, y }) => {
      const loss = (wv: tf.Tensor) => tf.mean(tf.neg(tf.sum(tf.mul(y, tf.logSoftmax(tf.elu(tf.matMul(x, wv)))), 1)));
      const [gw] = tf.grads((wv: tf.Tensor) => loss(wv))([w]);
      const gTanh = tf.grad((v: tf.Tensor) => tf.sum(tf.tanh(v)))(x);
      const scaled = tf.customGrad((v, save) => {
        (save as tf.GradSaveFunc)([v as tf.Tensor]);
        return { value: tf.mul(v as tf.Tensor, 2), gradFunc: (dy: tf.Tensor) => tf.mul(dy, 3) };
      });
      const gCustom = tf.grad((v: tf.Tensor) => tf.sum(scaled(v) as tf.Tensor))(w);
      return [gw, gTanh, gCustom];
    },
    k: 24,
    ulps: 64,
  },
  {
    name: 'gradients of conv2d and depthwiseConv2d (Conv2DBackpropInput/Filter, depthwise backprop)',
    inputs: { x: rnd([2, 5, 5, 3], 82), w: rnd([3, 3, 3, 4], 83), dw: rnd([3, 3, 3, 2], 84) },
    build: ({ x, w, dw }) => {
      const f = (xv: tf.Tensor, wv: tf.Tensor, dwv: tf.Tensor) =>
        tf.add(tf.sum(tf.square(tf.conv2d(xv as tf.Tensor4D, wv as tf.Tensor4D, 2, 'same'))), tf.sum(tf.square(tf.depthwiseConv2d(xv as tf.Tensor4D, dwv as tf.Tensor4D, 1, 'valid'))));
      return tf.grads(f)([x, w, dw]);
    },
    k: 200,
  },
];

/** A model with every layer kind the app builds (dense, conv2d, depthwise, BN, LN, pooling, add, embedding). */
function buildModel(): tf.LayersModel {
  const input = tf.input({ shape: [6, 6, 2] });
  const c1 = tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', activation: 'relu', kernelInitializer: 'ones' }).apply(input) as tf.SymbolicTensor;
  const c2 = tf.layers.depthwiseConv2d({ kernelSize: 3, padding: 'same', depthwiseInitializer: 'ones' }).apply(c1) as tf.SymbolicTensor;
  const bn = tf.layers.batchNormalization().apply(tf.layers.add().apply([c1, c2]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const pooled = tf.layers.averagePooling2d({ poolSize: 2, strides: 2 }).apply(bn) as tf.SymbolicTensor;
  const gap = tf.layers.globalAveragePooling2d({}).apply(pooled) as tf.SymbolicTensor;
  const flat = tf.layers.flatten().apply(pooled) as tf.SymbolicTensor;
  const ln = tf.layers.layerNormalization().apply(flat) as tf.SymbolicTensor;
  const dense = tf.layers.dense({ units: 3, activation: 'tanh', kernelInitializer: 'ones' }).apply(tf.layers.concatenate().apply([ln, gap]) as tf.SymbolicTensor) as tf.SymbolicTensor;
  const out = tf.layers.activation({ activation: 'softmax' }).apply(dense) as tf.SymbolicTensor;
  return tf.model({ inputs: input, outputs: out });
}

/** Loss and variable gradients of buildModel() with seeded weights, in training mode. */
const modelGradients: Case = {
  name: 'layer gradients in training mode (tf.variableGrads over the app-style model)',
  inputs: { x: rnd([4, 6, 6, 2], 90), y: { shape: [4, 3], values: Float32Array.from([1, 0, 0, 0, 1, 0, 0, 0, 1, 1, 0, 0]) } },
  build: ({ x, y }) => {
    const model = buildModel();
    // Seeded weights, the same on both backends (initializers are not all seedable).
    model.setWeights(model.getWeights().map((w, i) => tf.mul(tf.tensor(seededValues(w.size, 100 + i), w.shape), 0.5)));
    const { value, grads } = tf.variableGrads(() => {
      const p = model.apply(x, { training: true }) as tf.Tensor;
      return tf.mean(tf.neg(tf.sum(tf.mul(y, tf.log(tf.add(p, 1e-6))), 1))) as tf.Scalar;
    });
    const out = [value, ...Object.keys(grads).sort().map((k) => grads[k])];
    for (const layer of model.layers) layer.dispose();
    return out;
  },
  k: 200,
  ulps: 64,
};

describe.skipIf(!onWebgpu)('tfjs ops natgrad calls, WebGPU vs cpu (NATGRAD_TEST_BACKEND=webgpu only)', () => {
  // tfjs-webgpu would run small ops on fresh host tensors with cpu kernels: audit the GPU ones.
  beforeAll(() => {
    tf.env().set('WEBGPU_CPU_FORWARD', false);
  });
  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    const { worst } = await compare(c);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it(modelGradients.name, async () => {
    const { worst } = await compare(modelGradients);
    expect(worst).toBeLessThanOrEqual(1);
  });

  it('tf.addN of 9 and 16 inputs is right on natgrad device (raised storage-buffer limit)', async () => {
    const device = (tf.backend() as unknown as { device: { limits: { maxStorageBuffersPerShaderStage: number } } }).device;
    const inputs: Inputs = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`t${i}`, rnd([3, 2], 60 + i)]));
    // n inputs + 1 output storage buffers per stage.
    const fits = (n: number) => n + 1 <= device.limits.maxStorageBuffersPerShaderStage;
    const c: Case = { name: 'addN 9/16', inputs, build: (t) => [tf.addN(Object.values(t).slice(0, 9)), ...(fits(16) ? [tf.addN(Object.values(t))] : [])], k: 16 };
    expect(fits(9)).toBe(true);
    expect((await compare(c)).worst).toBeLessThanOrEqual(1);
  });

  it('tf.pad of rank 5 and 6 fails on tfjs-backend-webgpu 4.22: its shader does not compile, now a DEVICE_ERROR (natgrad pads at most rank 4 on WebGPU)', async () => {
    const five: Inputs = { x: rnd([1, 2, 2, 1, 2], 47) };
    const six: Inputs = { x: rnd([1, 2, 1, 2, 1, 2], 48) };
    // tfjs-webgpu indexes the paddings as vec5/vec6, which WGSL lacks ("cannot index type 'vec5'"):
    // the pipeline is invalid and, before natgrad watched the device, the op read as zeros.
    // If this starts passing, tfjs fixed it: the wasm-only note in conv2d-backprop-input.ts can go.
    await expect(runOn('webgpu', five, ({ x }) => tf.pad(x, [[0, 0], [1, 0], [0, 1], [0, 0], [1, 0]]))).rejects.toMatchObject({ code: 'DEVICE_ERROR' });
    await expect(runOn('webgpu', six, ({ x }) => tf.pad(x, [[0, 0], [0, 0], [0, 1], [0, 0], [0, 1], [0, 0]]))).rejects.toMatchObject({ code: 'DEVICE_ERROR' });
  });
});
