import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { convProblem, denseProblem, flat, relError, secondMoment, withOnes } from '../testing/brute-force';
import { augment, batchFactors, inputRows, outputRows, toKernelOrder } from './factors';

describe('batchFactors', () => {
  it('Dense: A = E[a a^T] (bias-augmented), G = E[g_n g_n^T] of per-example gradients', async () => {
    const n = 5;
    const p = await denseProblem(1, n, 3, 4);
    const xs = (await p.x.array()) as number[][];
    const before = tf.memory().numTensors;
    const { a, g } = batchFactors(p.layer, p.capture, n);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(relError(await a.data(), flat(secondMoment(withOnes(xs), n)))).toBeLessThan(1e-6);
    expect(relError(await g.data(), flat(secondMoment(p.perExampleOutputGrads, n)))).toBeLessThan(1e-5);
    tf.dispose([a, g]);
    p.dispose();
  });

  it.each([true, false])('Dense with the capture\'s transposes (bias %s): same factors as brute force, no transpose of the rows', async (bias) => {
    const n = 6;
    const p = await denseProblem(4, n, 3, 4, bias);
    const xs = (await p.x.array()) as number[][];
    const inputTransposed = tf.transpose(p.capture.input);
    const outputGradTransposed = tf.transpose(p.capture.outputGrad);
    const plain = batchFactors(p.layer, p.capture, n);
    const before = tf.memory().numTensors;
    const { a, g } = batchFactors(p.layer, { ...p.capture, inputTransposed, outputGradTransposed }, n);
    expect(tf.memory().numTensors).toBe(before + 2);
    expect(a.shape).toEqual(plain.a.shape);
    expect(relError(await a.data(), flat(secondMoment(bias ? withOnes(xs) : xs, n)))).toBeLessThan(1e-6);
    expect(relError(await g.data(), flat(secondMoment(p.perExampleOutputGrads, n)))).toBeLessThan(1e-5);
    // G is the same product either way (the plain path transposes the same rows), so bit-equal.
    expect(Array.from(await g.data())).toEqual(Array.from(await plain.g.data()));
    tf.dispose([a, g, plain.a, plain.g, inputTransposed, outputGradTransposed]);
    p.dispose();
  });

  it('Dense, one example: A (x) G is exactly the Fisher of that example (vec dW vec dW^T)', async () => {
    const p = await denseProblem(2, 1, 2, 3);
    const { a, g } = batchFactors(p.layer, p.capture, 1);
    const A = (await a.array()) as number[][];
    const G = (await g.array()) as number[][];
    const dw = p.perExampleGrads[0]; // kernel [2,3] row-major, then bias [3]: exactly vec(W~)
    let worst = 0;
    for (let i = 0; i < 3; i++) for (let j = 0; j < 3; j++) for (let k = 0; k < 3; k++) for (let l = 0; l < 3; l++) {
      worst = Math.max(worst, Math.abs(A[i][k] * G[j][l] - dw[i * 3 + j] * dw[k * 3 + l]));
    }
    expect(worst).toBeLessThan(1e-5);
    tf.dispose([a, g]);
    p.dispose();
  });

  it('Dense without bias: no ones column', async () => {
    const p = await denseProblem(3, 4, 3, 2, false);
    const { a } = batchFactors(p.layer, p.capture, 4);
    const xs = (await p.x.array()) as number[][];
    expect(a.shape).toEqual([3, 3]);
    expect(relError(await a.data(), flat(secondMoment(xs, 4)))).toBeLessThan(1e-6);
    a.dispose();
    p.dispose();
  });

  it('Dense with flattened leading dims (N examples x T rows): A averages rows, G sums each example\'s rows', async () => {
    const n = 2;
    const t = 3;
    const p = await denseProblem(4, n * t, 2, 3);
    const { a, g } = batchFactors(p.layer, p.capture, n);
    const xs = (await p.x.array()) as number[][];
    // The problem's per-row gradients are of each row's own loss, i.e. (N*T) * outputGrad; the
    // per-example gradient with batchSize N is N * outputGrad = perRow / T.
    const perExample = p.perExampleOutputGrads.map((row) => row.map((v) => v / t));
    expect(relError(await a.data(), flat(secondMoment(withOnes(xs), n * t)))).toBeLessThan(1e-6);
    expect(relError(await g.data(), flat(secondMoment(perExample, n)))).toBeLessThan(1e-5);
    tf.dispose([a, g]);
    p.dispose();
  });

  const convCases = [
    { label: 'stride 2, same', strides: [2, 2], dilation: [1, 1], padding: 'same' },
    { label: 'stride 2, valid', strides: [2, 2], dilation: [1, 1], padding: 'valid' },
    { label: 'dilation 2, same', strides: [1, 1], dilation: [2, 2], padding: 'same' },
    { label: 'dilation 2, valid', strides: [1, 1], dilation: [2, 2], padding: 'valid' },
    // patches.ts gathers at stride 1 and subsamples (tfjs refuses strides and dilations together)
    { label: 'stride 2, dilation 2, same', strides: [2, 2], dilation: [2, 2], padding: 'same' },
  ] as const;
  for (const c of convCases) {
    it(`Conv2D (${c.label}): A = mean over batch x locations, G = per-example sum over locations; patch order matches the kernel`, async () => {
      const n = 3;
      const p = await convProblem(7, { n, size: [5, 6], cin: 2, cout: 3, kernel: [3, 2], strides: [...c.strides], dilation: [...c.dilation], padding: c.padding });
      const locations = p.patches.length / n;
      const { a, g } = batchFactors(p.layer, p.capture, n);
      expect(relError(await a.data(), flat(secondMoment(withOnes(p.patches), n * locations)))).toBeLessThan(1e-5);
      expect(relError(await g.data(), flat(secondMoment(p.perExampleOutputGrads.flat(), n)))).toBeLessThan(1e-5);
      // sum_{n,t} a_{n,t} outputGrad_{n,t}^T is the mean-loss kernel gradient; compare with tf.conv2d's own
      // Conv2DBackpropFilter: proves patch columns follow the kernel's [kh, kw, cin] flattening.
      const grad = tf.tidy(() =>
        toKernelOrder(p.layer, tf.matMul(augment(p.layer, inputRows(p.layer, p.capture.input)), outputRows(p.layer, p.capture.outputGrad), true, false), [0]),
      );
      const kernelRows = (await grad.data()).slice(0, p.kernelGrad.length);
      expect(relError(kernelRows, p.kernelGrad)).toBeLessThan(1e-5);
      tf.dispose([a, g, grad]);
      p.dispose();
    });
  }
});
