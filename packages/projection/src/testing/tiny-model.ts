/**
 * Test-only two-layer MLP (Dense 3->4 tanh, Dense 4->2, mean squared error) built from named
 * tf.Variables, so tests get real mean-loss gradients keyed like a trainer's ParamMap, and the
 * matching KFAC-shaped block specs. No BatchNorm: per-example losses are independent.
 */
import * as tf from '@tensorflow/tfjs';
import type { ParamMap } from '@natgrad/core';
import { type Matrix, randomSpd, randomVector, seededRandom } from './dense-math';

export interface TinyModel {
  variables: tf.Variable[];
  /** Mean-loss gradients on rows [start, end) of the data. Caller disposes. */
  grads(start: number, end: number): ParamMap;
  /** Dense specs (names, shapes) per layer block: kernel then bias. */
  blockShapes: { name: string; params: { name: string; shape: number[] }[] }[];
  dispose(): void;
}

export function tinyModel(seed: number, batch = 8): TinyModel {
  const rand = seededRandom(seed);
  const v = (name: string, shape: number[]) =>
    tf.variable(tf.tensor(randomVector(shape.reduce((a, b) => a * b, 1), rand), shape), true, name);
  const w1 = v(`tiny${seed}/d1/kernel`, [3, 4]);
  const b1 = v(`tiny${seed}/d1/bias`, [4]);
  const w2 = v(`tiny${seed}/d2/kernel`, [4, 2]);
  const b2 = v(`tiny${seed}/d2/bias`, [2]);
  const x = tf.tensor2d(randomVector(batch * 3, rand), [batch, 3]);
  const y = tf.tensor2d(randomVector(batch * 2, rand), [batch, 2]);
  const variables = [w1, b1, w2, b2];
  return {
    variables,
    grads(start, end) {
      const { value, grads } = tf.variableGrads(() => {
        const xs = tf.slice(x, [start, 0], [end - start, -1]);
        const ys = tf.slice(y, [start, 0], [end - start, -1]);
        const h = tf.tanh(tf.add(tf.matMul(xs, w1), b1));
        const out = tf.add(tf.matMul(h, w2), b2);
        return tf.mean(tf.square(tf.sub(out, ys))) as tf.Scalar;
      }, variables);
      value.dispose();
      return grads;
    },
    blockShapes: [
      { name: 'd1', params: [{ name: w1.name, shape: [3, 4] }, { name: b1.name, shape: [4] }] },
      { name: 'd2', params: [{ name: w2.name, shape: [4, 2] }, { name: b2.name, shape: [2] }] },
    ],
    dispose() {
      tf.dispose([...variables, x, y]);
    },
  };
}

/** Random SPD matrix sized for a block spec. */
export function spdFor(spec: { params: { shape: number[] }[] }, rand: () => number): Matrix {
  const n = spec.params.reduce((s, p) => s + p.shape.reduce((a, b) => a * b, 1), 0);
  return randomSpd(n, rand);
}
