// The webgl matMul fix's wrapper, run on cpu kernels (Node has no WebGL): for an odd shared
// dimension it hands the inner kernel operands padded by one zero along that dimension and gets
// the same product; otherwise it passes the call through. Its effect on real WebGL is measured in
// Chromium (webgl-even-shared-dim.webgl-spec.ts, the browser tier).
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { evenSharedDimKernel, installWebglKernelFixes, stockWebglKernel } from './webgl-even-shared-dim';

interface Call {
  shapes: Record<string, number[]>;
}

/** The cpu kernel `name`, recording the input shapes it was called with. */
function spied(name: string, calls: Call[]): tf.KernelFunc {
  const inner = tf.getKernel(name, 'cpu')!.kernelFunc;
  return (args) => {
    calls.push({ shapes: Object.fromEntries(Object.entries(args.inputs).map(([k, v]) => [k, v!.shape])) });
    return inner(args);
  };
}

/** Runs `kernel` as tfjs would, on the cpu backend, and returns the values. */
async function run(kernel: tf.KernelFunc, inputs: Record<string, tf.Tensor>, attrs: tf.NamedAttrMap): Promise<Float32Array> {
  const info = kernel({ inputs, backend: tf.backend(), attrs }) as tf.TensorInfo;
  const out = tf.engine().makeTensorFromTensorInfo(info);
  const values = (await out.data()) as Float32Array;
  out.dispose();
  return values;
}

describe('evenSharedDimKernel (on cpu kernels)', () => {
  const pad = tf.getKernel('PadV2', 'cpu')!.kernelFunc;

  it('BatchMatMul: an odd k reaches the kernel as k + 1 on the right axes, for every transpose; the product is unchanged', async () => {
    await tf.setBackend('cpu');
    const a = tf.tensor2d([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tf.tensor2d([1, -1, 2, 0.5, -2, 3], [3, 2]);
    for (const [transposeA, transposeB] of [[false, false], [true, false], [false, true], [true, true]]) {
      const calls: Call[] = [];
      const kernel = evenSharedDimKernel('BatchMatMul', spied('BatchMatMul', calls), pad);
      const at = transposeA ? tf.transpose(a) : a;
      const bt = transposeB ? tf.transpose(b) : b;
      const before = tf.memory().numTensors;
      const got = await run(kernel, { a: at, b: bt }, { transposeA, transposeB });
      expect(tf.memory().numTensors).toBe(before);
      expect(Array.from(got)).toEqual(Array.from(await tf.matMul(a, b).data()));
      expect(calls[0].shapes).toEqual({ a: transposeA ? [4, 2] : [2, 4], b: transposeB ? [2, 4] : [4, 2] });
      if (at !== a) at.dispose();
      if (bt !== b) bt.dispose();
    }
    const calls: Call[] = [];
    const even = tf.tensor2d([1, 2, 3, 4], [2, 2]);
    await run(evenSharedDimKernel('BatchMatMul', spied('BatchMatMul', calls), pad), { a: even, b: even }, { transposeA: false, transposeB: false });
    expect(calls[0].shapes).toEqual({ a: [2, 2], b: [2, 2] });
    tf.dispose([a, b, even]);
  });

  it('Conv2D: a 1×1 filter over an odd channel count gets one zero channel on x and the filter; other filters pass through', async () => {
    const x = tf.randomUniform([1, 3, 3, 3], -1, 1, 'float32', 4) as tf.Tensor4D;
    const w1 = tf.randomUniform([1, 1, 3, 2], -1, 1, 'float32', 5) as tf.Tensor4D;
    const w3 = tf.randomUniform([3, 3, 3, 2], -1, 1, 'float32', 6) as tf.Tensor4D;
    const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', dilations: [1, 1] };
    for (const [w, padded] of [[w1, true], [w3, false]] as const) {
      const calls: Call[] = [];
      const got = await run(evenSharedDimKernel('Conv2D', spied('Conv2D', calls), pad), { x, filter: w }, attrs);
      expect(calls[0].shapes.x).toEqual(padded ? [1, 3, 3, 4] : [1, 3, 3, 3]);
      expect(calls[0].shapes.filter).toEqual(padded ? [1, 1, 4, 2] : w.shape);
      const want = await tf.conv2d(x, w, 1, 'same').data();
      for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i], 6);
    }
    tf.dispose([x, w1, w3]);
  });
});

describe('installWebglKernelFixes', () => {
  it('wraps the four webgl kernels once (tfjs registers webgl kernels on import, also in Node) and keeps the stock ones', () => {
    const stock = tf.getKernel('BatchMatMul', 'webgl')!;
    expect(installWebglKernelFixes().kernels).toEqual({ BatchMatMul: 'wrapped', _FusedMatMul: 'wrapped', Conv2D: 'wrapped', FusedConv2D: 'wrapped' });
    expect(installWebglKernelFixes().kernels).toEqual({
      BatchMatMul: 'already-installed',
      _FusedMatMul: 'already-installed',
      Conv2D: 'already-installed',
      FusedConv2D: 'already-installed',
    });
    expect(stockWebglKernel('BatchMatMul')).toBe(stock);
    expect(tf.getKernel('BatchMatMul', 'webgl')!.kernelFunc).not.toBe(stock.kernelFunc);
  });
});
