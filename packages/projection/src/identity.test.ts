import * as tf from '@tensorflow/tfjs';
import { NatgradError, type ParamMap } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { identity } from './index';
import { matVec, randomSpd, randomVector, seededRandom } from './testing/dense-math';
import { type DenseView, denseView } from './testing/dense-view';

const rand = seededRandom(7);
const f = randomSpd(5, rand);
const gK = randomVector(4, rand);
const gB = randomVector(1, rand);
const gFree = randomVector(3, rand);
let view: DenseView;
let grads: ParamMap;

beforeAll(() => {
  view = denseView([{ name: 'L', params: [{ name: 'L/kernel', shape: [2, 2] }, { name: 'L/bias', shape: [1] }], matrix: f }], 0.1);
  grads = {
    'L/kernel': tf.tensor(gK, [2, 2]),
    'L/bias': tf.tensor(gB, [1]),
    'bn/gamma': tf.tensor(gFree, [3]),
  };
});
afterAll(() => {
  tf.dispose(Object.values(grads));
  view.dispose();
});

describe('identity()', () => {
  it('preconditions block parameters, passes the others through, leaks nothing', async () => {
    const before = tf.memory().numTensors;
    const p = identity();
    expect(p.subBatches).toBe(1);
    const res = await p.combine([grads], view);
    const expected = matVec(view.matrices.L.inv, [...gK, ...gB]);
    const got = [...(await res.directions['L/kernel'].data()), ...(await res.directions['L/bias'].data())];
    for (let i = 0; i < got.length; i++) expect(got[i]).toBeCloseTo(expected[i], 5);
    expect(Array.from(await res.directions['bn/gamma'].data())).toEqual(Array.from(new Float32Array(gFree)));
    expect(Array.from(await res.meanGrads['L/kernel'].data())).toEqual(Array.from(new Float32Array(gK)));
    expect(res.directions['bn/gamma']).not.toBe(res.meanGrads['bn/gamma']);
    expect(Object.keys(res.directions).sort()).toEqual(Object.keys(grads).sort());
    tf.dispose([...Object.values(res.directions), ...Object.values(res.meanGrads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('works with a view that has no blocks (plain SGD / AdamW)', async () => {
    const before = tf.memory().numTensors;
    const empty = { blocks: [], precondition: () => ({}), multiply: () => ({}) };
    const res = await identity().combine([grads], empty);
    expect(Array.from(await res.directions['L/kernel'].data())).toEqual(Array.from(new Float32Array(gK)));
    tf.dispose([...Object.values(res.directions), ...Object.values(res.meanGrads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('rejects bad inputs with NatgradError', async () => {
    const before = tf.memory().numTensors;
    const p = identity();
    await expect(p.combine([grads, grads], view)).rejects.toThrow(NatgradError);
    await expect(p.combine([{ 'L/kernel': grads['L/kernel'] }], view)).rejects.toThrow(/only part of block/);
    await expect(p.combine([grads], {} as never)).rejects.toThrow(/not a CurvatureView/);
    await expect(p.combine([{ a: [1, 2] as unknown as tf.Tensor }], view)).rejects.toThrow(/not a tensor/);
    const broken = { blocks: view.blocks, precondition: () => ({}), multiply: () => ({}) };
    await expect(p.combine([grads], broken)).rejects.toThrow(/precondition\(\) returned no valid result/);
    const twice = { ...view, blocks: [...view.blocks, { name: 'again', params: ['L/bias'] }] };
    await expect(p.combine([grads], twice)).rejects.toThrow(/two curvature blocks/);
    const dead = tf.tensor([1]);
    dead.dispose();
    await expect(p.combine([{ x: dead }], view)).rejects.toThrow(/disposed/);
    expect(tf.memory().numTensors).toBe(before);
  });
});
