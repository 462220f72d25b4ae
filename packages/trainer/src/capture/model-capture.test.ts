import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import type { LayerCapture } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { categoricalCrossentropy, meanSquaredError, resolveLoss } from '../losses/index';
import { FUSED_DENSE_BACKENDS, captureModel } from './model-capture';
import type { GradientResult } from './model-capture';

async function maxDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  expect(a.shape).toEqual(b.shape);
  const x = await a.data();
  const y = await b.data();
  let m = 0;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i] - y[i]));
  return m;
}

function disposeResult(r: GradientResult): void {
  tf.dispose([r.loss, r.outputs, ...Object.values(r.grads)]);
  if (r.captures) tf.dispose(Object.values(r.captures).flatMap(captureTensors));
}

function captureTensors(c: LayerCapture): tf.Tensor[] {
  return [c.input, c.outputGrad, ...(c.inputTransposed ? [c.inputTransposed] : []), ...(c.outputGradTransposed ? [c.outputGradTransposed] : [])];
}

function returnedCount(r: GradientResult): number {
  return 2 + Object.keys(r.grads).length + (r.captures ? Object.values(r.captures).flatMap(captureTensors).length : 0);
}

/** Cross-entropy written out (no clipping: the test nets' probabilities stay far from 0 and 1). */
function crossEntropy(y: tf.Tensor, p: tf.Tensor): tf.Scalar {
  return tf.neg(tf.mean(tf.sum(tf.mul(y, tf.log(p)), -1))) as tf.Scalar;
}

function kernelOf(model: tf.LayersModel, name: string, part: 'kernel' | 'bias'): tf.Tensor {
  return model.getLayer(name).getWeights()[part === 'kernel' ? 0 : 1];
}

/** Reference gradients: tf.variableGrads of the model's own training-mode apply plus the loss. */
function referenceGrads(model: tf.LayersModel, x: tf.Tensor, y: tf.Tensor) {
  const vars = model.trainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
  return tf.variableGrads(() => categoricalCrossentropy().compute(y, model.apply(x, { training: true }) as tf.Tensor), vars);
}

function seqDense(): tf.Sequential {
  const m = tf.sequential({ name: 'seq_dense' });
  m.add(tf.layers.dense({ name: 'd1', units: 5, activation: 'relu', inputShape: [4] }));
  m.add(tf.layers.dense({ name: 'd2', units: 4, useBias: false }));
  m.add(tf.layers.dense({ name: 'd3', units: 3, activation: 'softmax' }));
  return m;
}

const x = () => tf.tensor2d([0.5, -1, 2, 0.1, 1.5, 0.3, -0.7, 0.9, -0.2, 0.4, 1.1, -1.3, 0.8, -0.6, 0.05, 1.7, -1.1, 0.25, 0.6, -0.9], [5, 4]);
const yOneHot = () => tf.oneHot(tf.tensor1d([0, 2, 1, 1, 0], 'int32'), 3).toFloat();

describe('captureModel on a Sequential Dense model', () => {
  it('registers every Dense layer with its geometry and equals model.predict', async () => {
    const model = seqDense();
    const cap = captureModel(model);
    expect(cap.layers.map((l) => [l.name, l.kind])).toEqual([
      ['d1', 'dense'],
      ['d2', 'dense'],
      ['d3', 'dense'],
    ]);
    expect(cap.layers[1]).toMatchObject({ inputSize: 5, outputSize: 4, bias: null, kernel: 'd2/kernel' });
    expect(cap.skipped).toEqual([]);
    expect(Object.keys(cap.variables).sort()).toEqual(['d1/bias', 'd1/kernel', 'd2/kernel', 'd3/bias', 'd3/kernel']);
    expect(cap.outputActivation).toBe('softmax');
    const input = x();
    const ours = cap.predict(input);
    const theirs = model.predict(input) as tf.Tensor;
    expect(await maxDiff(ours, theirs)).toBeLessThan(1e-6);
    tf.dispose([input, ours, theirs]);
    model.dispose();
  });

  it('captures equal tf.grads of an explicitly written forward; grads equal variableGrads of model.apply', async () => {
    const model = seqDense();
    const cap = captureModel(model);
    const input = x();
    const y = yOneHot();
    const r = cap.computeGradients(input, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    const captures = r.captures as Record<string, LayerCapture>;

    // Explicit forward: z1 = x W1 + b1, a1 = relu(z1), z2 = a1 W2, z3 = z2 W3 + b3, p = softmax(z3).
    // The e_l perturb each pre-activation, so d loss / d e_l at 0 is d loss / d z_l.
    const [W1, b1, W2, W3, b3] = [kernelOf(model, 'd1', 'kernel'), kernelOf(model, 'd1', 'bias'), kernelOf(model, 'd2', 'kernel'), kernelOf(model, 'd3', 'kernel'), kernelOf(model, 'd3', 'bias')];
    const a1 = tf.relu(tf.add(tf.matMul(input, W1), b1));
    const z2 = tf.matMul(a1, W2);
    const forward = (e1: tf.Tensor, e2: tf.Tensor, e3: tf.Tensor) => {
      const h1 = tf.relu(tf.add(tf.add(tf.matMul(input, W1), b1), e1));
      const h2 = tf.add(tf.matMul(h1, W2), e2);
      return crossEntropy(y, tf.softmax(tf.add(tf.add(tf.matMul(h2, W3), b3), e3)));
    };
    const [g1, g2, g3] = tf.grads(forward)([tf.zeros([5, 5]), tf.zeros([5, 4]), tf.zeros([5, 3])]);
    expect(await maxDiff(captures.d1.input, input)).toBe(0);
    expect(await maxDiff(captures.d2.input, a1)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.d3.input, z2)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.d1.outputGrad, g1)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.d2.outputGrad, g2)).toBeLessThan(1e-6);
    expect(await maxDiff(captures.d3.outputGrad, g3)).toBeLessThan(1e-6);

    const ref = referenceGrads(model, input, y);
    expect(Math.abs((await r.loss.data())[0] - (await ref.value.data())[0])).toBeLessThan(1e-6);
    for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-6);
    disposeResult(r);
    model.dispose();
  });

  it('leaves tf.memory().numTensors unchanged apart from the returned tensors', () => {
    const model = seqDense();
    const cap = captureModel(model);
    const input = x();
    const y = yOneHot();
    const loss = categoricalCrossentropy();
    // Warm up: tfjs allocates some tensors lazily on first use.
    disposeResult(cap.computeGradients(input, y, loss, { capture: true, fisher: 'sampled', seed: 1 }));
    for (const [capture, fisher] of [
      [false, 'empirical'],
      [true, 'empirical'],
      [true, 'sampled'],
    ] as const) {
      const before = tf.memory().numTensors;
      const r = cap.computeGradients(input, y, loss, { capture, fisher, seed: 4 });
      expect(tf.memory().numTensors - before).toBe(returnedCount(r));
      expect(r.captures === null).toBe(!capture);
      disposeResult(r);
      expect(tf.memory().numTensors).toBe(before);
    }
    const before = tf.memory().numTensors;
    const p = cap.predict(input, { training: true });
    expect(tf.memory().numTensors).toBe(before + 1);
    p.dispose();
    model.dispose();
  });
});

describe('Dense captures share the backward transposes', () => {
  async function bits(t: tf.Tensor): Promise<number[]> {
    return Array.from(new Uint32Array(new Float32Array(await t.data()).buffer));
  }

  it.each(['empirical', 'sampled'] as const)('%s: transposes equal the captures bit for bit; gradients equal a plain pass bit for bit', async (fisher) => {
    const model = seqDense();
    const cap = captureModel(model);
    const xs = x();
    const ys = yOneHot();
    const plain = cap.computeGradients(xs, ys, categoricalCrossentropy(), { capture: false, fisher, seed: 5 });
    const before = tf.memory().numTensors;
    const r = cap.computeGradients(xs, ys, categoricalCrossentropy(), { capture: true, fisher, seed: 5 });
    expect(tf.memory().numTensors).toBe(before + returnedCount(r));
    const c = r.captures as Record<string, LayerCapture>;
    for (const name of Object.keys(plain.grads)) expect(await bits(r.grads[name]), name).toEqual(await bits(plain.grads[name]));
    expect(await bits(r.loss)).toEqual(await bits(plain.loss));
    for (const [name, layer] of Object.entries(c)) {
      const hasBias = name !== 'd2';
      // Empirical: the training backward forms both (dW and db). Sampled: that pass differentiates
      // the biases only (kernels of bias-free layers), so it forms dy^T for biased layers and x^T
      // for bias-free ones, and nothing else is handed over. Only the backends that transpose
      // explicitly run the fused Dense op; elsewhere (webgpu) nothing is handed over at all.
      const fused = FUSED_DENSE_BACKENDS.has(tf.getBackend());
      const wantInputT = fused && (fisher === 'empirical' || !hasBias);
      const wantGradT = fused && hasBias;
      expect(layer.inputTransposed !== undefined, `${name} inputTransposed`).toBe(wantInputT);
      expect(layer.outputGradTransposed !== undefined, `${name} outputGradTransposed`).toBe(wantGradT);
      if (layer.inputTransposed) expect(await bits(layer.inputTransposed)).toEqual(await bits(tf.transpose(layer.input)));
      if (layer.outputGradTransposed) expect(await bits(layer.outputGradTransposed)).toEqual(await bits(tf.transpose(layer.outputGrad)));
    }
    disposeResult(r);
    disposeResult(plain);
    tf.dispose([xs, ys]);
    model.dispose();
  });
});

describe('Dense on inputs of rank > 2', () => {
  it('flattens the leading dims into the batch for the captures, and still equals predict and model.apply', async () => {
    const model = tf.sequential();
    model.add(tf.layers.dense({ name: 'td', units: 5, activation: 'elu', inputShape: [3, 4] }));
    model.add(tf.layers.flatten());
    model.add(tf.layers.dense({ name: 'tout', units: 3, activation: 'softmax' }));
    const cap = captureModel(model);
    expect(cap.layers[0]).toMatchObject({ name: 'td', inputSize: 4, outputSize: 5 });
    const input = tf.randomNormal([5, 3, 4], 0, 1, 'float32', 8);
    const y = yOneHot();
    const ours = cap.predict(input);
    const theirs = model.predict(input) as tf.Tensor;
    expect(await maxDiff(ours, theirs)).toBeLessThan(1e-6);
    const r = cap.computeGradients(input, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    const c = (r.captures as Record<string, LayerCapture>).td;
    expect(c.input.shape).toEqual([15, 4]);
    expect(c.outputGrad.shape).toEqual([15, 5]);
    const [W, b] = model.getLayer('td').getWeights();
    const [Wo, bo] = model.getLayer('tout').getWeights();
    const forward = (e: tf.Tensor) => {
      const pre = tf.add(tf.add(tf.matMul(tf.reshape(input, [15, 4]), W), b), e);
      const h = tf.reshape(tf.elu(pre), [5, 15]);
      return crossEntropy(y, tf.softmax(tf.add(tf.matMul(h, Wo), bo)));
    };
    const [g] = tf.grads(forward)([tf.zeros([15, 5])]);
    expect(await maxDiff(c.outputGrad, g)).toBeLessThan(1e-6);
    expect(await maxDiff(c.input, tf.reshape(input, [15, 4]))).toBe(0);
    const ref = referenceGrads(model, input, y);
    for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-6);
    disposeResult(r);
    model.dispose();
  });
});

describe('captureModel on a functional model with a branch and an add', () => {
  function branchy(): tf.LayersModel {
    const inp = tf.input({ shape: [4] });
    const a = tf.layers.dense({ name: 'fa', units: 3, activation: 'relu' }).apply(inp) as tf.SymbolicTensor;
    const b = tf.layers.dense({ name: 'fb', units: 3, useBias: false }).apply(a) as tf.SymbolicTensor;
    const c = tf.layers.dense({ name: 'fc', units: 3, activation: 'tanh' }).apply(inp) as tf.SymbolicTensor;
    const sum = tf.layers.add().apply([b, c]) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'fo', units: 3, activation: 'softmax' }).apply(sum) as tf.SymbolicTensor;
    return tf.model({ inputs: inp, outputs: out, name: 'branchy' });
  }

  it('equals predict, and captures / grads match the explicit forward and model.apply', async () => {
    const model = branchy();
    const cap = captureModel(model);
    expect(cap.layers.map((l) => l.name).sort()).toEqual(['fa', 'fb', 'fc', 'fo']);
    const input = x();
    const y = yOneHot();
    const ours = cap.predict(input);
    const theirs = model.predict(input) as tf.Tensor;
    expect(await maxDiff(ours, theirs)).toBeLessThan(1e-6);

    const r = cap.computeGradients(input, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    const c = r.captures as Record<string, LayerCapture>;
    const W = (n: string) => kernelOf(model, n, 'kernel');
    const B = (n: string) => kernelOf(model, n, 'bias');
    const forward = (ea: tf.Tensor, eb: tf.Tensor, ec: tf.Tensor, eo: tf.Tensor) => {
      const a = tf.relu(tf.add(tf.add(tf.matMul(input, W('fa')), B('fa')), ea));
      const b = tf.add(tf.matMul(a, W('fb')), eb);
      const cc = tf.tanh(tf.add(tf.add(tf.matMul(input, W('fc')), B('fc')), ec));
      return crossEntropy(y, tf.softmax(tf.add(tf.add(tf.matMul(tf.add(b, cc), W('fo')), B('fo')), eo)));
    };
    const zeros = () => tf.zeros([5, 3]);
    const [ga, gb, gc, go] = tf.grads(forward)([zeros(), zeros(), zeros(), zeros()]);
    expect(await maxDiff(c.fa.outputGrad, ga)).toBeLessThan(1e-6);
    expect(await maxDiff(c.fb.outputGrad, gb)).toBeLessThan(1e-6);
    expect(await maxDiff(c.fc.outputGrad, gc)).toBeLessThan(1e-6);
    expect(await maxDiff(c.fo.outputGrad, go)).toBeLessThan(1e-6);
    expect(await maxDiff(c.fb.input, tf.relu(tf.add(tf.matMul(input, W('fa')), B('fa'))))).toBeLessThan(1e-6);
    expect(await maxDiff(c.fc.input, input)).toBe(0);
    const ref = referenceGrads(model, input, y);
    for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-6);
    disposeResult(r);
    model.dispose();
  });

  it('walks a nested Sequential layer by layer and reports a shared layer instead of registering it', async () => {
    const inner = tf.sequential({ name: 'inner' });
    inner.add(tf.layers.dense({ name: 'in1', units: 5, activation: 'relu', inputShape: [4] }));
    inner.add(tf.layers.dense({ name: 'in2', units: 4 }));
    const shared = tf.layers.dense({ name: 'shared', units: 4, activation: 'tanh' });
    const inp = tf.input({ shape: [4] });
    const h = inner.apply(inp) as tf.SymbolicTensor;
    const twice = shared.apply(shared.apply(h) as tf.SymbolicTensor) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'head', units: 3, activation: 'softmax' }).apply(twice) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out });
    const cap = captureModel(model);
    expect(cap.layers.map((l) => l.name)).toEqual(['in1', 'in2', 'head']);
    expect(cap.skipped).toHaveLength(1);
    expect(cap.skipped[0]).toMatchObject({ name: 'shared', className: 'Dense', variables: ['shared/kernel', 'shared/bias'] });
    expect(cap.skipped[0].reason).toMatch(/applied 2 times/);
    const input = x();
    const y = yOneHot();
    const ours = cap.predict(input);
    const theirs = model.predict(input) as tf.Tensor;
    expect(await maxDiff(ours, theirs)).toBeLessThan(1e-6);
    const r = cap.computeGradients(input, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    expect(Object.keys(r.captures as object).sort()).toEqual(['head', 'in1', 'in2']);
    const ref = referenceGrads(model, input, y);
    expect(Object.keys(r.grads).sort()).toEqual(Object.keys(ref.grads).sort());
    for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-6);
    disposeResult(r);
    model.dispose();
  });
});

describe('training-mode layers', () => {
  function bnDropout(): tf.Sequential {
    const m = tf.sequential();
    m.add(tf.layers.dense({ name: 'bd1', units: 6, inputShape: [4] }));
    m.add(tf.layers.batchNormalization({ name: 'bn' }));
    m.add(tf.layers.dropout({ rate: 0.5, seed: 7 }));
    m.add(tf.layers.dense({ name: 'bd2', units: 3, activation: 'softmax' }));
    return m;
  }

  it('runs BatchNormalization and Dropout in training mode, exactly like model.apply(x, {training: true})', async () => {
    const model = bnDropout();
    const cap = captureModel(model);
    expect(cap.skipped.map((s) => [s.name, s.className])).toEqual([['bn', 'BatchNormalization']]);
    const input = x();
    const y = yOneHot();
    const movingMean = model.getLayer('bn').getWeights()[2].clone();
    const r = cap.computeGradients(input, y, categoricalCrossentropy(), { capture: true, fisher: 'empirical', seed: 0 });
    // Batch statistics and the seeded dropout mask make training outputs differ from inference.
    const inference = cap.predict(input);
    expect(await maxDiff(r.outputs, inference)).toBeGreaterThan(1e-3);
    const trainingApply = model.apply(input, { training: true }) as tf.Tensor;
    expect(await maxDiff(r.outputs, trainingApply)).toBeLessThan(1e-6);
    const ref = referenceGrads(model, input, y);
    for (const name of Object.keys(ref.grads)) expect(await maxDiff(r.grads[name], ref.grads[name])).toBeLessThan(1e-6);
    // The training forward updated the moving mean (momentum 0.99 towards the batch mean).
    expect(await maxDiff(model.getLayer('bn').getWeights()[2], movingMean)).toBeGreaterThan(1e-6);
    disposeResult(r);
    model.dispose();
  });

  it('the sampled-Fisher pass does not update BatchNormalization statistics a second time', async () => {
    const runOnce = (fisher: 'sampled' | 'empirical') => {
      const model = bnDropout();
      model.setWeights(reference.map((w) => w.clone()));
      const cap = captureModel(model);
      const r = cap.computeGradients(x(), yOneHot(), categoricalCrossentropy(), { capture: true, fisher, seed: 5 });
      disposeResult(r);
      const stats = model.getLayer('bn').getWeights().slice(2);
      return { model, stats };
    };
    const template = bnDropout();
    const reference = template.getWeights().map((w) => w.clone());
    const a = runOnce('empirical');
    const b = runOnce('sampled');
    expect(await maxDiff(a.stats[0], reference[2])).toBeGreaterThan(1e-6);
    expect(await maxDiff(a.stats[0], b.stats[0])).toBe(0);
    expect(await maxDiff(a.stats[1], b.stats[1])).toBe(0);
    for (const m of [a.model, b.model, template]) m.dispose();
    tf.dispose(reference);
  });
});

describe('sampled (true) Fisher', () => {
  it('captures come from a backward with targets sampled from the predictions (seeded); grads use the labels', async () => {
    const model = seqDense();
    const cap = captureModel(model);
    const input = x();
    const y = yOneHot();
    const loss = categoricalCrossentropy();
    const sampled = cap.computeGradients(input, y, loss, { capture: true, fisher: 'sampled', seed: 11 });
    const again = cap.computeGradients(input, y, loss, { capture: true, fisher: 'sampled', seed: 11 });
    const empirical = cap.computeGradients(input, y, loss, { capture: true, fisher: 'empirical', seed: 11 });
    const s = sampled.captures as Record<string, LayerCapture>;

    // Reference: the same explicit forward, with targets drawn by the loss from the predictions.
    const probs = cap.predict(input, { training: true });
    const targets = loss.sampleTargets?.(probs, 11) as tf.Tensor;
    const [W1, b1, W2, W3, b3] = [kernelOf(model, 'd1', 'kernel'), kernelOf(model, 'd1', 'bias'), kernelOf(model, 'd2', 'kernel'), kernelOf(model, 'd3', 'kernel'), kernelOf(model, 'd3', 'bias')];
    const forward = (e1: tf.Tensor, e3: tf.Tensor) => {
      const h1 = tf.relu(tf.add(tf.add(tf.matMul(input, W1), b1), e1));
      return crossEntropy(targets, tf.softmax(tf.add(tf.add(tf.matMul(tf.matMul(h1, W2), W3), b3), e3)));
    };
    const [g1, g3] = tf.grads(forward)([tf.zeros([5, 5]), tf.zeros([5, 3])]);
    expect(await maxDiff(s.d1.outputGrad, g1)).toBeLessThan(1e-6);
    expect(await maxDiff(s.d3.outputGrad, g3)).toBeLessThan(1e-6);
    expect(await maxDiff(s.d3.outputGrad, (again.captures as Record<string, LayerCapture>).d3.outputGrad)).toBe(0);
    // The sampled labels differ from the training labels here, so the captures differ...
    expect(await maxDiff(targets, y)).toBe(1);
    expect(await maxDiff(s.d3.outputGrad, (empirical.captures as Record<string, LayerCapture>).d3.outputGrad)).toBeGreaterThan(1e-3);
    // ...while the parameter gradients are always those of the training labels.
    for (const name of Object.keys(empirical.grads)) expect(await maxDiff(sampled.grads[name], empirical.grads[name])).toBe(0);
    for (const r of [sampled, again, empirical]) disposeResult(r);
    model.dispose();
  });

  it('works for integer-label and regression losses', () => {
    const model = seqDense();
    const cap = captureModel(model);
    const input = x();
    const sparse = resolveLoss('sparseCategoricalCrossentropy');
    const r1 = cap.computeGradients(input, tf.tensor1d([0, 2, 1, 1, 0], 'int32'), sparse, { capture: true, fisher: 'sampled', seed: 2 });
    expect((r1.captures as Record<string, LayerCapture>).d3.outputGrad.shape).toEqual([5, 3]);
    const r2 = cap.computeGradients(input, tf.zeros([5, 3]), meanSquaredError(), { capture: true, fisher: 'sampled', seed: 2 });
    expect((r2.captures as Record<string, LayerCapture>).d1.outputGrad.shape).toEqual([5, 5]);
    disposeResult(r1);
    disposeResult(r2);
    model.dispose();
  });
});

describe('registration report and errors', () => {
  it('lists skipped layers with reasons (depthwise, layer norm, embedding, channelsFirst, frozen, caller skip)', () => {
    const inp = tf.input({ shape: [6, 6, 2] });
    let h = tf.layers.depthwiseConv2d({ name: 'dw', kernelSize: 3 }).apply(inp) as tf.SymbolicTensor;
    h = tf.layers.conv2d({ name: 'cf', filters: 2, kernelSize: 1, dataFormat: 'channelsFirst' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.layerNormalization({ name: 'ln' }).apply(h) as tf.SymbolicTensor;
    h = tf.layers.flatten().apply(h) as tf.SymbolicTensor;
    const frozen = tf.layers.dense({ name: 'frozen', units: 4, trainable: false });
    h = frozen.apply(h) as tf.SymbolicTensor;
    h = tf.layers.dense({ name: 'mine', units: 3 }).apply(h) as tf.SymbolicTensor;
    const out = tf.layers.dense({ name: 'kept', units: 2, activation: 'softmax' }).apply(h) as tf.SymbolicTensor;
    const model = tf.model({ inputs: inp, outputs: out, name: 'mixed' });
    const cap = captureModel(model, { skip: ['mine'] });
    expect(cap.layers.map((l) => l.name)).toEqual(['kept']);
    const reasons = Object.fromEntries(cap.skipped.map((s) => [s.name, s.reason]));
    expect(Object.keys(reasons).sort()).toEqual(['cf', 'dw', 'frozen', 'ln', 'mine']);
    expect(reasons.dw).toMatch(/depthwise/);
    expect(reasons.cf).toMatch(/channelsFirst/);
    expect(reasons.ln).toMatch(/LayerNormalization/);
    expect(reasons.frozen).toMatch(/frozen/);
    expect(reasons.mine).toMatch(/options\.skip/);
    const report = cap.report();
    for (const name of ['dw', 'cf', 'ln', 'frozen', 'mine', 'kept']) expect(report).toContain(name);
    expect(report).toMatch(/skipped \(5\)/);
    expect(report).toMatch(/factors A 4x4, G 2x2/);

    const emb = tf.sequential();
    emb.add(tf.layers.embedding({ name: 'emb', inputDim: 10, outputDim: 3, inputLength: 4 }));
    emb.add(tf.layers.flatten());
    emb.add(tf.layers.dense({ name: 'eo', units: 2 }));
    const ecap = captureModel(emb);
    expect(ecap.skipped.map((s) => [s.name, s.className])).toEqual([['emb', 'Embedding']]);
    expect(ecap.skipped[0].variables).toEqual(['emb/embeddings']);
    expect(ecap.outputActivation).toBe('linear');
    model.dispose();
    emb.dispose();
  });

  it('refuses bad inputs with NatgradError codes', () => {
    const model = seqDense();
    const cap = captureModel(model);
    const input = x();
    const y = yOneHot();
    const loss = categoricalCrossentropy();
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        expect(e).toBeInstanceOf(NatgradError);
        return (e as NatgradError).code;
      }
      return 'no error';
    };
    const before = tf.memory().numTensors;
    expect(code(() => captureModel(model, { skip: ['nope'] }))).toBe('INVALID_ARGUMENT');
    expect(code(() => captureModel({} as tf.LayersModel))).toBe('INVALID_ARGUMENT');
    expect(code(() => cap.predict(tf.zeros([2, 5])))).toBe('SHAPE_MISMATCH');
    expect(code(() => cap.computeGradients(input, tf.zeros([4, 3]), loss, { capture: true, fisher: 'empirical', seed: 0 }))).toBe('SHAPE_MISMATCH');
    expect(code(() => cap.computeGradients(input, y, loss, { capture: true, fisher: 'exact' as 'sampled', seed: 0 }))).toBe('INVALID_ARGUMENT');
    expect(code(() => cap.computeGradients(input, y, loss, { capture: true, fisher: 'sampled', seed: 1.5 }))).toBe('INVALID_ARGUMENT');
    const custom = resolveLoss((a: tf.Tensor, b: tf.Tensor) => tf.abs(tf.sub(a, b)));
    expect(code(() => cap.computeGradients(input, y, custom, { capture: true, fisher: 'sampled', seed: 0 }))).toBe('UNSUPPORTED_LOSS');
    expect(code(() => cap.computeGradients(input, tf.zeros([5, 2]), loss, { capture: true, fisher: 'empirical', seed: 0 }))).toBe('SHAPE_MISMATCH');
    // Only the three tf.zeros targets/inputs created by these calls remain; the failures leaked nothing.
    expect(tf.memory().numTensors).toBe(before + 3);
    // The empirical Fisher needs no sampler, so a custom loss works there.
    const r = cap.computeGradients(input, y, custom, { capture: true, fisher: 'empirical', seed: 0 });
    disposeResult(r);

    const inp = tf.input({ shape: [4] });
    const two = tf.model({ inputs: inp, outputs: [tf.layers.dense({ units: 2 }).apply(inp) as tf.SymbolicTensor, tf.layers.dense({ units: 1 }).apply(inp) as tf.SymbolicTensor] });
    expect(code(() => captureModel(two))).toBe('UNSUPPORTED_LAYER');
    model.dispose();
    two.dispose();
  });
});
