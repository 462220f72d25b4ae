import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from './index';
import { matVec, randomSpd, randomVector, seededRandom } from './testing/dense-math';
import { denseView } from './testing/dense-view';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const rand = seededRandom(7);
const f = randomSpd(5, rand);
const view = denseView([{ name: 'L', params: [{ name: 'L/kernel', shape: [2, 2] }, { name: 'L/bias', shape: [1] }], matrix: f }], 0.1);
const gK = randomVector(4, rand);
const gB = randomVector(1, rand);
const gFree = randomVector(3, rand);
let grads: ParamMap;

beforeAll(() => {
  grads = {
    'L/kernel': tf.tensor(gK, [2, 2]),
    'L/bias': tf.tensor(gB, [1]),
    'bn/gamma': tf.tensor(gFree, [3]),
  };
});
afterAll(() => tf.dispose(Object.values(grads)));

describe('identity()', () => {
  it('preconditions block parameters, passes the others through, leaks nothing', () => {
    const before = tf.memory().numTensors;
    const p = identity();
    expect(p.subBatches).toBe(1);
    const res = p.combine([grads], view);
    const expected = matVec(view.matrices.L.inv, [...gK, ...gB]);
    const got = [...res.directions['L/kernel'].dataSync(), ...res.directions['L/bias'].dataSync()];
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 5);
    expect(Array.from(res.directions['bn/gamma'].dataSync())).toEqual(Array.from(new Float32Array(gFree)));
    expect(Array.from(res.meanGrads['L/kernel'].dataSync())).toEqual(Array.from(new Float32Array(gK)));
    expect(res.directions['bn/gamma']).not.toBe(res.meanGrads['bn/gamma']);
    expect(Object.keys(res.directions).sort()).toEqual(Object.keys(grads).sort());
    tf.dispose([...Object.values(res.directions), ...Object.values(res.meanGrads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('works with a view that has no blocks (plain SGD / AdamW)', () => {
    const before = tf.memory().numTensors;
    const empty = { blocks: [], precondition: () => ({}), multiply: () => ({}) };
    const res = identity().combine([grads], empty);
    expect(Array.from(res.directions['L/kernel'].dataSync())).toEqual(Array.from(new Float32Array(gK)));
    tf.dispose([...Object.values(res.directions), ...Object.values(res.meanGrads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad inputs with NatgradError', () => {
    const before = tf.memory().numTensors;
    const p = identity();
    expect(() => p.combine([grads, grads], view)).toThrow(NatgradError);
    expect(() => p.combine([{ 'L/kernel': grads['L/kernel'] }], view)).toThrow(/only part of block/);
    expect(() => p.combine([grads], {} as never)).toThrow(/not a CurvatureView/);
    expect(() => p.combine([{ a: [1, 2] as unknown as tf.Tensor }], view)).toThrow(/not a tensor/);
    const broken = { blocks: view.blocks, precondition: () => ({}), multiply: () => ({}) };
    expect(() => p.combine([grads], broken)).toThrow(/precondition\(\) returned no valid result/);
    const twice = { ...view, blocks: [...view.blocks, { name: 'again', params: ['L/bias'] }] };
    expect(() => p.combine([grads], twice)).toThrow(/two curvature blocks/);
    const dead = tf.tensor([1]);
    dead.dispose();
    expect(() => p.combine([{ x: dead }], view)).toThrow(/disposed/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
