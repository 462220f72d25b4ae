/**
 * Test-only brute force (not exported from the package): explicitly written tiny forwards whose
 * per-example gradients come from tf.grad one example at a time, float64 JS loops for expectations,
 * Kronecker products and dense solves. Nothing here shares code with the estimators under test.
 * The problems are built with asynchronous reads (one per problem) and ops WebGPU computes
 * correctly (no pad above rank 4), so the curvature tests run unchanged on every backend.
 */
import * as tf from '@tensorflow/tfjs';
import type { Conv2DLayerInfo, DenseLayerInfo, LayerCapture } from '@natgrad/core';

/** Deterministic uniform numbers in [-1, 1) (mulberry32). */
export function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (((t ^ (t >>> 14)) >>> 0) / 4294967296) * 2 - 1;
  };
}

export function randomArray(n: number, r: () => number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r() * scale;
  return out;
}

/** Softmax cross-entropy of each row against a fixed target row: a per-example loss. */
function rowLoss(s: tf.Tensor, target: tf.Tensor): tf.Scalar {
  return tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(s, -1)))) as tf.Scalar;
}

/** Fixed soft targets of shape [rows, out]. */
function targets(rows: number, out: number, r: () => number): tf.Tensor2D {
  return tf.tidy(() => tf.softmax(tf.tensor2d(randomArray(rows * out, r, 2), [rows, out])));
}

export interface DenseProblem {
  layer: DenseLayerInfo;
  x: tf.Tensor2D;
  kernel: tf.Variable;
  bias: tf.Variable | null;
  /** Capture of the mean loss, plus per-example output gradients g_n = d loss_n / d s_n (float64). */
  capture: LayerCapture;
  perExampleOutputGrads: number[][];
  /** Per-example gradients of W~ (flattened row-major [in(+1), out]) from tf.grad on loss_n alone. */
  perExampleGrads: number[][];
  dispose(): void;
}

let counter = 0;

/**
 * Reads several tensors in one transfer (flattened, concatenated) and disposes them. Returns
 * their values as plain arrays, in order.
 */
async function readAll(tensors: readonly tf.Tensor[]): Promise<number[][]> {
  const packed = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))));
  let values: Float32Array;
  try {
    values = (await packed.data()) as Float32Array;
  } finally {
    packed.dispose();
    tf.dispose(tensors as tf.Tensor[]);
  }
  const out: number[][] = [];
  let offset = 0;
  for (const t of tensors) {
    out.push(Array.from(values.subarray(offset, offset + t.size)));
    offset += t.size;
  }
  return out;
}

export async function denseProblem(seed: number, n: number, inputSize: number, outputSize: number, useBias = true): Promise<DenseProblem> {
  const r = rng(seed);
  const name = `d${seed}_${counter++}`;
  const layer: DenseLayerInfo = { kind: 'dense', name, kernel: `${name}/kernel`, bias: useBias ? `${name}/bias` : null, inputSize, outputSize };
  const x = tf.tensor2d(randomArray(n * inputSize, r), [n, inputSize]);
  const kernel = tf.variable(tf.tensor2d(randomArray(inputSize * outputSize, r), [inputSize, outputSize]), true, layer.kernel);
  const bias = useBias ? tf.variable(tf.tensor1d(randomArray(outputSize, r)), true, `${name}/bias`) : null;
  const t = targets(n, outputSize, r);
  const forward = (xs: tf.Tensor2D, k: tf.Tensor, b: tf.Tensor | null) => (b === null ? tf.matMul(xs, k) : tf.add(tf.matMul(xs, k), b));
  const s = tf.tidy(() => forward(x, kernel, bias));
  const outputGrad = tf.tidy(() => tf.grad((sv: tf.Tensor) => tf.div(rowLoss(sv, t), n))(s));
  // Per example: the output gradient, then the gradient of every parameter; read at once below.
  const perExample: tf.Tensor[] = [];
  const params = bias === null ? [kernel] : [kernel, bias];
  for (let i = 0; i < n; i++) {
    const xi = tf.slice(x, [i, 0], [1, inputSize]);
    const ti = tf.slice(t, [i, 0], [1, outputSize]);
    const si = tf.tidy(() => forward(xi, kernel, bias));
    perExample.push(tf.tidy(() => tf.grad((sv: tf.Tensor) => rowLoss(sv, ti))(si)));
    const grads = tf.tidy(() => {
      const { grads: gs } = tf.variableGrads(() => rowLoss(forward(xi, kernel, bias), ti), params);
      return params.map((p) => gs[p.name]);
    });
    perExample.push(tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [-1])))));
    tf.dispose([xi, ti, si, ...grads]);
  }
  tf.dispose([s, t]);
  const values = await readAll(perExample);
  const perExampleOutputGrads = values.filter((_, k) => k % 2 === 0);
  const perExampleGrads = values.filter((_, k) => k % 2 === 1);
  return {
    layer,
    x,
    kernel,
    bias,
    capture: { input: x, outputGrad },
    perExampleOutputGrads,
    perExampleGrads,
    dispose: () => tf.dispose([x, kernel, ...(bias ? [bias] : []), outputGrad]),
  };
}

/** TensorFlow's padding rule, written out independently of the library's patches.ts. */
function padBefore(size: number, k: number, s: number, d: number, padding: 'same' | 'valid'): { out: number; before: number } {
  const ek = (k - 1) * d + 1;
  if (padding === 'valid') return { out: Math.floor((size - ek) / s) + 1, before: 0 };
  const out = Math.floor((size + s - 1) / s);
  return { out, before: Math.floor(Math.max(0, (out - 1) * s + ek - size) / 2) };
}

/**
 * The kernel with (d - 1) zero taps between neighbours, so a plain conv equals the dilated one.
 * The channel axes are merged so that every pad is of rank 3 at most: tfjs-webgpu returns wrong
 * values for pads of rank 5 and 6.
 */
function dilateKernel(k: tf.Tensor4D, dh: number, dw: number): tf.Tensor4D {
  const [kh, kw, ci, co] = k.shape;
  const channels = ci * co;
  let out: tf.Tensor = tf.reshape(k, [kh, kw, channels]);
  if (dh > 1) {
    // [kh, 1, kw*channels] padded to [kh, dh, kw*channels]: dh - 1 zero rows after every tap row.
    out = tf.reshape(tf.pad(tf.reshape(out, [kh, 1, kw * channels]), [[0, 0], [0, dh - 1], [0, 0]]), [kh * dh, kw, channels]);
    out = tf.slice(out, [0, 0, 0], [(kh - 1) * dh + 1, kw, channels]);
  }
  const h = out.shape[0];
  if (dw > 1) {
    out = tf.reshape(tf.pad(tf.reshape(out, [h * kw, 1, channels]), [[0, 0], [0, dw - 1], [0, 0]]), [h, kw * dw, channels]);
    out = tf.slice(out, [0, 0, 0], [h, (kw - 1) * dw + 1, channels]);
  }
  const [dilatedH, dilatedW] = out.shape as [number, number, number];
  return tf.reshape(out, [dilatedH, dilatedW, ci, co]) as tf.Tensor4D;
}

export interface ConvProblem {
  layer: Conv2DLayerInfo;
  x: tf.Tensor4D;
  kernel: tf.Variable;
  bias: tf.Variable | null;
  capture: LayerCapture;
  /** Brute-force patches [N*L][kh*kw*cin] in (n, y, x) row order and (i, j, c) column order. */
  patches: number[][];
  /** Per-example output gradients per location [N][L][cout], from tf.grad of loss_n alone. */
  perExampleOutputGrads: number[][][];
  /** Mean-loss gradient of the kernel through tf.conv2d itself (its Conv2DBackpropFilter). */
  kernelGrad: Float32Array;
  /** Per-example gradients of W~ (kernel flattened, then bias) through tf.conv2d. */
  perExampleGrads: number[][];
  dispose(): void;
}

export async function convProblem(
  seed: number,
  geometry: { n: number; size: [number, number]; cin: number; cout: number; kernel: [number, number]; strides: [number, number]; dilation: [number, number]; padding: 'same' | 'valid'; useBias?: boolean },
): Promise<ConvProblem> {
  const r = rng(seed);
  const { n, cin, cout, padding } = geometry;
  const [h, w] = geometry.size;
  const [kh, kw] = geometry.kernel;
  const [sh, sw] = geometry.strides;
  const [dh, dw] = geometry.dilation;
  const useBias = geometry.useBias ?? true;
  const gy = padBefore(h, kh, sh, dh, padding);
  const gx = padBefore(w, kw, sw, dw, padding);
  const name = `c${seed}_${counter++}`;
  const layer: Conv2DLayerInfo = {
    kind: 'conv2d', name, kernel: `${name}/kernel`, bias: useBias ? `${name}/bias` : null,
    kernelSize: [kh, kw], strides: [sh, sw], dilation: [dh, dw], padding, inChannels: cin, outChannels: cout,
    inputSize: [h, w], outputSize: [gy.out, gx.out],
  };
  const xData = randomArray(n * h * w * cin, r);
  const x = tf.tensor4d(xData, [n, h, w, cin]);
  const kernel = tf.variable(tf.tensor4d(randomArray(kh * kw * cin * cout, r, 0.5), [kh, kw, cin, cout]), true, layer.kernel);
  const bias = useBias ? tf.variable(tf.tensor1d(randomArray(cout, r)), true, `${name}/bias`) : null;
  // tfjs has no conv2d gradient for dilation > 1, so the differentiated forward convolves with the
  // explicitly dilated kernel (zeros between taps, built from differentiable pad/reshape/slice);
  // patches.test.ts checks the forward against tf.conv2d's own dilations argument.
  const conv = (xs: tf.Tensor4D, k: tf.Tensor4D, b: tf.Tensor | null) => {
    const y = tf.conv2d(xs, dilateKernel(k, dh, dw), [sh, sw], padding, 'NHWC');
    return b === null ? y : tf.add(y, b);
  };
  const t = tf.tidy(() => tf.softmax(tf.tensor4d(randomArray(n * gy.out * gx.out * cout, r, 2), [n, gy.out, gx.out, cout])));
  const s = tf.tidy(() => conv(x, kernel as unknown as tf.Tensor4D, bias));
  if (s.shape[1] !== gy.out || s.shape[2] !== gx.out) throw new Error(`test geometry disagrees with tf.conv2d: ${s.shape}`);
  const outputGrad = tf.tidy(() => tf.grad((sv: tf.Tensor) => tf.div(rowLoss(sv, t), n))(s));
  const kernelGradTensor = tf.tidy(() => tf.grad((k: tf.Tensor) => tf.div(rowLoss(conv(x, k as tf.Tensor4D, bias), t), n))(kernel));
  const patches: number[][] = [];
  for (let b = 0; b < n; b++) {
    for (let oy = 0; oy < gy.out; oy++) {
      for (let ox = 0; ox < gx.out; ox++) {
        const row: number[] = [];
        for (let i = 0; i < kh; i++) {
          for (let j = 0; j < kw; j++) {
            for (let c = 0; c < cin; c++) {
              const iy = oy * sh + i * dh - gy.before;
              const ix = ox * sw + j * dw - gx.before;
              row.push(iy >= 0 && iy < h && ix >= 0 && ix < w ? xData[((b * h + iy) * w + ix) * cin + c] : 0);
            }
          }
        }
        patches.push(row);
      }
    }
  }
  // Per example: the output gradient, then the gradient of every parameter; all read at once below.
  const perExample: tf.Tensor[] = [];
  const params = bias === null ? [kernel] : [kernel, bias];
  for (let b = 0; b < n; b++) {
    const xb = tf.slice(x, [b, 0, 0, 0], [1, h, w, cin]);
    const tb = tf.slice(t, [b, 0, 0, 0], [1, gy.out, gx.out, cout]);
    const sb = tf.tidy(() => conv(xb, kernel as unknown as tf.Tensor4D, bias));
    perExample.push(tf.tidy(() => tf.grad((sv: tf.Tensor) => rowLoss(sv, tb))(sb)));
    const grads = tf.tidy(() => {
      const { grads: gs } = tf.variableGrads(() => rowLoss(conv(xb, kernel as unknown as tf.Tensor4D, bias), tb), params);
      return params.map((p) => gs[p.name]);
    });
    perExample.push(tf.tidy(() => tf.concat(grads.map((g) => tf.reshape(g, [-1])))));
    tf.dispose([xb, tb, sb, ...grads]);
  }
  tf.dispose([s, t]);
  const values = await readAll([kernelGradTensor, ...perExample]);
  const kernelGrad = Float32Array.from(values[0]);
  const perExampleOutputGrads = values.slice(1).filter((_, k) => k % 2 === 0).map((flat) => {
    const locs: number[][] = [];
    for (let l = 0; l < gy.out * gx.out; l++) locs.push(flat.slice(l * cout, (l + 1) * cout));
    return locs;
  });
  const perExampleGrads = values.slice(1).filter((_, k) => k % 2 === 1);
  return {
    layer,
    x,
    kernel,
    bias,
    capture: { input: x, outputGrad },
    patches,
    perExampleOutputGrads,
    kernelGrad,
    perExampleGrads,
    dispose: () => tf.dispose([x, kernel, ...(bias ? [bias] : []), outputGrad]),
  };
}

/** sum_rows v v^T / count for rows v (float64). */
export function secondMoment(rows: number[][], count: number): number[][] {
  const d = rows[0].length;
  const m = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const v of rows) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i][j] += v[i] * v[j];
  return m.map((row) => row.map((x) => x / count));
}

export function withOnes(rows: number[][]): number[][] {
  return rows.map((r) => [...r, 1]);
}

/** (A (x) B) as a dense matrix, index (i*dimB + j, k*dimB + l) = A[i][k] B[j][l]. */
export function kron(a: number[][], b: number[][]): number[][] {
  const p = a.length;
  const q = b.length;
  const m = Array.from({ length: p * q }, () => new Array<number>(p * q).fill(0));
  for (let i = 0; i < p; i++) for (let k = 0; k < p; k++) for (let j = 0; j < q; j++) for (let l = 0; l < q; l++) m[i * q + j][k * q + l] = a[i][k] * b[j][l];
  return m;
}

export function addIdentity(a: number[][], lambda: number): number[][] {
  return a.map((row, i) => row.map((x, j) => (i === j ? x + lambda : x)));
}

export function matVec(m: number[][], v: number[]): number[] {
  return m.map((row) => row.reduce((s, x, j) => s + x * v[j], 0));
}

/** Solves M x = b by Gaussian elimination with partial pivoting (float64). */
export function solve(m: number[][], b: number[]): number[] {
  const n = m.length;
  const a = m.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) if (Math.abs(a[r][c]) > Math.abs(a[p][c])) p = r;
    [a[c], a[p]] = [a[p], a[c]];
    for (let r = c + 1; r < n; r++) {
      const f = a[r][c] / a[c][c];
      for (let k = c; k <= n; k++) a[r][k] -= f * a[c][k];
    }
  }
  const x = new Array<number>(n).fill(0);
  for (let r = n - 1; r >= 0; r--) {
    let s = a[r][n];
    for (let k = r + 1; k < n; k++) s -= a[r][k] * x[k];
    x[r] = s / a[r][r];
  }
  return x;
}

export function trace(a: number[][]): number {
  return a.reduce((s, row, i) => s + row[i], 0);
}

/** Max |a - b| / max(1, max |b|): the error measure of float32 results against float64 truth. */
export function relError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let err = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    err = Math.max(err, Math.abs(a[i] - b[i]));
    scale = Math.max(scale, Math.abs(b[i]));
  }
  return err / Math.max(scale, 1e-30);
}

export function flat(m: number[][]): number[] {
  return m.flat();
}
