import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { installWasmTrainingKernels } from '@natgrad/backends';
import type { FisherType, LayerCapture } from '@natgrad/core';
import { afterAll, describe, expect, it } from 'vitest';
import { categoricalCrossentropy } from '../losses/index';
import { captureModel } from './model-capture';

afterAll(async () => {
  await tf.setBackend('cpu');
});

type Snapshot = Record<string, Float32Array | Int32Array | Uint8Array>;

/** Runs one computeGradients on the active backend and reads every returned tensor to the host. */
async function snapshot(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor, fisher: FisherType): Promise<Snapshot> {
  const cap = captureModel(model);
  const before = tf.memory().numTensors;
  const r = cap.computeGradients(x, y, categoricalCrossentropy(), { capture: true, fisher, seed: 9 });
  const out: Snapshot = { loss: await r.loss.data(), outputs: await r.outputs.data() };
  for (const [k, g] of Object.entries(r.grads)) out[`grad:${k}`] = await g.data();
  for (const [k, c] of Object.entries(r.captures ?? {})) {
    out[`input:${k}`] = await c.input.data();
    out[`outputGrad:${k}`] = await c.outputGrad.data();
    if (c.inputTransposed) out[`inputTransposed:${k}`] = await c.inputTransposed.data();
    if (c.outputGradTransposed) out[`outputGradTransposed:${k}`] = await c.outputGradTransposed.data();
  }
  const optional = (c: LayerCapture) => [c.inputTransposed, c.outputGradTransposed].filter((t): t is tf.Tensor => t !== undefined);
  tf.dispose([r.loss, r.outputs, ...Object.values(r.grads), ...Object.values(r.captures ?? {}).flatMap((c) => [c.input, c.outputGrad, ...optional(c)])]);
  expect(tf.memory().numTensors).toBe(before);
  return out;
}

function expectClose(label: string, a: Snapshot, b: Snapshot, tol: number): void {
  expect(Object.keys(b).sort()).toEqual(Object.keys(a).sort());
  for (const key of Object.keys(a)) {
    let m = 0;
    for (let i = 0; i < a[key].length; i++) m = Math.max(m, Math.abs(a[key][i] - b[key][i]));
    expect(m, `${label} ${key}`).toBeLessThan(tol);
  }
}

function denseModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.dense({ units: 6, activation: 'relu', inputShape: [5] }));
  m.add(tf.layers.dense({ units: 4, useBias: false }));
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

function convModel(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.conv2d({ filters: 3, kernelSize: 3, padding: 'same', strides: 2, activation: 'relu', inputShape: [6, 6, 2] }));
  m.add(tf.layers.conv2d({ filters: 2, kernelSize: 2, dilationRate: 2, useBias: false }));
  m.add(tf.layers.flatten());
  m.add(tf.layers.dense({ units: 3, activation: 'softmax' }));
  return m;
}

describe('cpu and wasm backends give the same captures and gradients', () => {
  it.each([
    ['Dense', denseModel, [4, 5]],
    ['Conv2D (with @natgrad/backends wasm training kernels)', convModel, [4, 6, 6, 2]],
  ] as const)('%s model, empirical and sampled Fisher', async (_name, build, inputShape) => {
    installWasmTrainingKernels();
    await tf.setBackend('cpu');
    const model = build();
    const x = tf.randomNormal([...inputShape], 0, 1, 'float32', 3);
    const y = tf.oneHot(tf.tensor1d([0, 1, 2, 1], 'int32'), 3).toFloat();
    const cpu = { empirical: await snapshot(model, x, y, 'empirical'), sampled: await snapshot(model, x, y, 'sampled') };
    const host = { x: (await x.data()).slice(), y: (await y.data()).slice() };
    tf.dispose([x, y]);

    await tf.setBackend('wasm');
    // Variables migrate to the active backend when read, so the same model runs on wasm.
    const xw = tf.tensor(host.x, [...inputShape]);
    const yw = tf.tensor(host.y, [4, 3]);
    expectClose('empirical', cpu.empirical, await snapshot(model, xw, yw, 'empirical'), 1e-5);
    expectClose('sampled', cpu.sampled, await snapshot(model, xw, yw, 'sampled'), 1e-5);
    tf.dispose([xw, yw]);
    model.dispose();
  });
});
