import * as tf from '@tensorflow/tfjs';
import type { Conv2DLayerInfo, LayerCapture } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { categoricalCrossentropy } from '../losses/index';
import { captureModel } from './model-capture';

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const x = await a.data();
  const y = await b.data();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

interface Case {
  padding: 'same' | 'valid';
  strides: number;
  dilation: number;
  useBias: boolean;
  out: [number, number];
}

// Input 7x7x2, kernel 3x3, 3 filters. Output sizes are tfjs' own (computeOutputShape), checked below.
const cases: Case[] = [
  { padding: 'same', strides: 1, dilation: 1, useBias: true, out: [7, 7] },
  { padding: 'valid', strides: 1, dilation: 1, useBias: false, out: [5, 5] },
  { padding: 'same', strides: 2, dilation: 1, useBias: true, out: [4, 4] },
  { padding: 'valid', strides: 2, dilation: 1, useBias: false, out: [3, 3] },
  { padding: 'same', strides: 1, dilation: 2, useBias: true, out: [7, 7] },
  { padding: 'valid', strides: 1, dilation: 2, useBias: false, out: [3, 3] },
];

function convModel(c: Case): tf.Sequential {
  const m = tf.sequential();
  m.add(
    tf.layers.conv2d({
      name: 'conv',
      filters: 3,
      kernelSize: 3,
      padding: c.padding,
      strides: c.strides,
      dilationRate: c.dilation,
      useBias: c.useBias,
      activation: 'relu',
      inputShape: [7, 7, 2],
      biasInitializer: 'randomNormal',
    }),
  );
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }));
  return m;
}

const batch = () => tf.randomNormal([3, 7, 7, 2], 0, 1, 'float32', 42);
const labels = () => tf.oneHot(tf.tensor1d([2, 0, 1], 'int32'), 3).toFloat();

describe.each(cases)('Conv2D padding $padding, stride $strides, dilation $dilation, bias $useBias', (c) => {
  it('registers the geometry, equals model.predict, and captures equal tf.grads of the explicit forward', async () => {
    const model = convModel(c);
    const cap = captureModel(model);
    const info = cap.layers[0] as Conv2DLayerInfo;
    expect(info).toMatchObject({
      kind: 'conv2d',
      kernelSize: [3, 3],
      strides: [c.strides, c.strides],
      dilation: [c.dilation, c.dilation],
      padding: c.padding,
      inChannels: 2,
      outChannels: 3,
      inputSize: [7, 7],
      outputSize: c.out,
    });
    // tfjs suffixes variable names that an earlier (disposed) model already used: conv/bias_1, ...
    expect(info.kernel).toMatch(/^conv\/kernel/);
    if (c.useBias) expect(info.bias).toMatch(/^conv\/bias/);
    else expect(info.bias).toBeNull();
    const x = batch();
    const y = labels();
    const ours = cap.predict(x);
    const theirs = model.predict(x) as tf.Tensor;
    expect(await maxDiff(ours, theirs)).toBeLessThan(1e-6);

    const r = cap.computeGradients(x, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    const captures = r.captures as Record<string, LayerCapture>;
    const [kernel, bias] = model.getLayer('conv').getWeights();
    const [hk, hb] = model.getLayer('head').getWeights();
    const conv = (e: tf.Tensor) => {
      let pre = tf.conv2d(x as tf.Tensor4D, kernel as tf.Tensor4D, c.strides, c.padding, 'NHWC', c.dilation);
      if (c.useBias) pre = tf.add(pre, bias);
      return tf.relu(tf.add(pre, e));
    };
    const forward = (e1: tf.Tensor, e2: tf.Tensor) => {
      const flat = tf.reshape(conv(e1), [3, -1]);
      const p = tf.softmax(tf.add(tf.add(tf.matMul(flat, hk), hb), e2));
      return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(p)), -1)));
    };
    const [g1, g2] = tf.grads(forward)([tf.zeros([3, ...c.out, 3]), tf.zeros([3, 3])]);
    expect(await maxDiff(captures.conv.input, x)).toBe(0);
    expect(await maxDiff(captures.conv.outputGrad, g1)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.head.outputGrad, g2)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.head.input, tf.reshape(conv(tf.zeros([3, ...c.out, 3])), [3, -1]))).toBeLessThan(1e-5);

    if (c.dilation === 1) {
      // tfjs can differentiate its own conv2d only without dilation.
      const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
      const ref = tf.variableGrads(() => categoricalCrossentropy().compute(y, model.apply(x, { training: true }) as tf.Tensor), vars);
      for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-5);
    } else {
      // Dilated: tfjs cannot differentiate it, so the kernel gradient is checked against the
      // definition dW[i,j,c,o] = sum_{n,p,q} x_pad[n, p*s + i*d, q*s + j*d, c] * g[n,p,q,o],
      // evaluated on the host from the input and the (verified above) output gradient.
      const [n, h, w, cin] = x.shape;
      const [oh, ow] = c.out;
      const eff = 2 * c.dilation + 1;
      const padTop = c.padding === 'same' ? Math.floor(Math.max((oh - 1) * c.strides + eff - h, 0) / 2) : 0;
      const padLeft = c.padding === 'same' ? Math.floor(Math.max((ow - 1) * c.strides + eff - w, 0) / 2) : 0;
      const xs = await x.data();
      const gs = await captures.conv.outputGrad.data();
      const expected = new Float64Array(3 * 3 * cin * 3);
      for (let b = 0; b < n; b++)
        for (let p = 0; p < oh; p++)
          for (let q = 0; q < ow; q++)
            for (let i = 0; i < 3; i++)
              for (let j = 0; j < 3; j++) {
                const row = p * c.strides + i * c.dilation - padTop;
                const col = q * c.strides + j * c.dilation - padLeft;
                if (row < 0 || row >= h || col < 0 || col >= w) continue;
                for (let ch = 0; ch < cin; ch++)
                  for (let o = 0; o < 3; o++)
                    expected[((i * 3 + j) * cin + ch) * 3 + o] += xs[((b * h + row) * w + col) * cin + ch] * gs[((b * oh + p) * ow + q) * 3 + o];
              }
      expect(await maxDiff(r.grads[info.kernel], tf.tensor4d(Float32Array.from(expected), [3, 3, cin, 3]))).toBeLessThan(1e-6);
    }
    tf.dispose([r.loss, r.outputs, ...Object.values(r.grads), ...Object.values(captures).flatMap((k) => [k.input, k.outputGrad])]);
    model.dispose();
  });
});
