import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { AdamW } from './adamw';
import { Sgd } from './sgd';

async function values(v: tf.Variable): Promise<number[]> {
  return Array.from(await v.data());
}

describe('Sgd', () => {
  it('matches a hand computation of heavy-ball momentum with L2 weight decay', async () => {
    const w = tf.variable(tf.tensor1d([1, -2]));
    const rule = new Sgd({ momentum: 0.5, weightDecay: 0.1 });
    rule.init({ w });
    const d = { w: tf.tensor1d([0.2, 0.4]) };
    rule.apply(d, 0.1);
    // g = d + 0.1 w = [0.3, 0.2]; buf = g; w -= 0.1 buf
    let theta = [1 - 0.03, -2 - 0.02];
    let buf = [0.3, 0.2];
    expect((await values(w))[0]).toBeCloseTo(theta[0], 6);
    expect((await values(w))[1]).toBeCloseTo(theta[1], 6);
    rule.apply(d, 0.1);
    const g = [0.2 + 0.1 * theta[0], 0.4 + 0.1 * theta[1]];
    buf = [0.5 * buf[0] + g[0], 0.5 * buf[1] + g[1]];
    theta = [theta[0] - 0.1 * buf[0], theta[1] - 0.1 * buf[1]];
    expect((await values(w))[0]).toBeCloseTo(theta[0], 6);
    expect((await values(w))[1]).toBeCloseTo(theta[1], 6);
    rule.dispose();
    tf.dispose([w, d.w]);
  });

  it('nesterov and decoupled decay follow their formulas; state round-trips; memory is stable', async () => {
    const w = tf.variable(tf.tensor1d([1]));
    const rule = new Sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.5, weightDecayMode: 'decoupled' });
    rule.init({ w });
    const d = { w: tf.tensor1d([1]) };
    const before = tf.memory().numTensors;
    rule.apply(d, 0.1);
    // buf = 1; step = g + mu buf = 1.9; plus decoupled 0.5 * 1 -> w = 1 - 0.1 * 2.4
    expect((await values(w))[0]).toBeCloseTo(0.76, 6);
    const state = rule.getState();
    expect(state.kind).toBe('sgd');
    rule.apply(d, 0.1);
    const after2 = (await values(w))[0];
    const reset = tf.tensor1d([0.76]);
    w.assign(reset);
    reset.dispose();
    rule.setState(state);
    rule.apply(d, 0.1);
    expect((await values(w))[0]).toBe(after2);
    tf.dispose(Object.values(state.tensors));
    expect(tf.memory().numTensors).toBe(before);
    rule.dispose();
    tf.dispose([w, d.w]);
  });

  it('rejects bad options, unknown variables and wrong shapes', () => {
    expect(() => new Sgd({ momentum: 1 })).toThrow(NatgradError);
    expect(() => new Sgd({ momentum: 0, nesterov: true })).toThrow(/Nesterov/);
    const w = tf.variable(tf.zeros([2]));
    const rule = new Sgd();
    expect(() => rule.apply({}, 0.1)).toThrow(/before init/);
    rule.init({ w });
    const bad = tf.zeros([3]);
    expect(() => rule.apply({ w: bad }, 0.1)).toThrow(/shape/);
    expect(() => rule.apply({ v: bad }, 0.1)).toThrow(/unknown variable/);
    expect(() => rule.apply({ w: tf.zeros([2]) }, Number.NaN)).toThrow(/learning rate/);
    expect(() => rule.setState({ kind: 'adamw', version: 1, values: {}, tensors: {} })).toThrow(/Cannot restore sgd/);
    rule.dispose();
    tf.dispose([w, bad]);
  });
});

describe('AdamW', () => {
  it('matches a hand computation with bias correction and decoupled weight decay', async () => {
    const w = tf.variable(tf.tensor1d([1, 2]));
    const rule = new AdamW({ beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1 });
    rule.init({ w });
    const ds = [tf.tensor1d([0.5, -1]), tf.tensor1d([-0.25, 2])];
    let theta = [1, 2];
    const m = [0, 0];
    const v = [0, 0];
    for (let t = 1; t <= 2; t++) {
      rule.apply({ w: ds[t - 1] }, 0.01);
      const d = Array.from(await ds[t - 1].data());
      theta = theta.map((th, i) => {
        m[i] = 0.9 * m[i] + 0.1 * d[i];
        v[i] = 0.99 * v[i] + 0.01 * d[i] * d[i];
        const mh = m[i] / (1 - 0.9 ** t);
        const vh = v[i] / (1 - 0.99 ** t);
        return th - 0.01 * (mh / (Math.sqrt(vh) + 1e-8) + 0.1 * th);
      });
      expect((await values(w))[0]).toBeCloseTo(theta[0], 6);
      expect((await values(w))[1]).toBeCloseTo(theta[1], 6);
    }
    const state = rule.getState();
    expect(state.values.t).toBe(2);
    const fresh = new AdamW({ beta1: 0.9, beta2: 0.99, epsilon: 1e-8, weightDecay: 0.1 });
    const w2 = tf.variable(tf.clone(w));
    fresh.init({ w: w2 });
    fresh.setState(state);
    rule.apply({ w: ds[0] }, 0.01);
    fresh.apply({ w: ds[0] }, 0.01);
    expect(await values(w2)).toEqual(await values(w));
    tf.dispose(Object.values(state.tensors));
    rule.dispose();
    fresh.dispose();
    tf.dispose([w, w2, ...ds]);
  });

  it('leaves no tensors behind across apply and rejects invalid hyper-parameters', () => {
    const w = tf.variable(tf.zeros([4]));
    const rule = new AdamW();
    rule.init({ w });
    const d = tf.ones([4]);
    rule.apply({ w: d }, 0.1);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 20; i++) rule.apply({ w: d }, 0.1);
    expect(tf.memory().numTensors).toBe(before);
    rule.dispose();
    expect(() => new AdamW({ beta2: 1 })).toThrow(NatgradError);
    expect(() => new AdamW({ epsilon: 0 })).toThrow(/epsilon/);
    tf.dispose([w, d]);
  });
});

describe('update-rule lifecycle', () => {
  it('init, apply and dispose leave tf.memory().numTensors unchanged (slot variables included)', () => {
    const w = tf.variable(tf.tensor2d([1, -2, 3, 4], [2, 2]));
    const d = { w: tf.tensor2d([0.2, 0.4, -0.1, 0.3], [2, 2]) };
    for (const make of [() => new Sgd({ momentum: 0.9, nesterov: true }), () => new AdamW({ weightDecay: 0.01 })]) {
      const before = tf.memory().numTensors;
      const rule = make();
      rule.init({ w });
      rule.apply(d, 0.1);
      rule.apply(d, 0.1);
      rule.dispose();
      expect(tf.memory().numTensors).toBe(before);
    }
    tf.dispose([w, d.w]);
  });
});
