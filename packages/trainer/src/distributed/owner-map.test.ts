import type { DenseLayerInfo } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { layerCost, ownerMap } from './owner-map';

const dense = (name: string, inputSize: number, outputSize: number): DenseLayerInfo => ({ kind: 'dense', name, kernel: `${name}/kernel`, bias: `${name}/bias`, inputSize, outputSize });

describe('ownerMap', () => {
  it('is deterministic and balances the cost (longest first, to the least loaded rank)', () => {
    const layers = [dense('a', 784, 512), dense('b', 512, 512), dense('c', 512, 10), dense('d', 10, 10)];
    expect(ownerMap(layers, 2)).toEqual(ownerMap(layers, 2));
    // a (785^3 + ...) is the largest and goes to rank 0; b to rank 1; c and d to the lighter rank 1.
    expect(ownerMap(layers, 2)).toEqual([0, 1, 1, 1]);
    expect(ownerMap(layers, 4)).toEqual([0, 1, 2, 3]);
    expect(ownerMap(layers, 1)).toEqual([0, 0, 0, 0]);
    // more ranks than layers: some ranks own nothing
    expect(ownerMap(layers.slice(0, 2), 4)).toEqual([0, 1]);
  });

  it('ties go to the lower layer index and the lower rank', () => {
    const layers = [dense('a', 8, 8), dense('b', 8, 8), dense('c', 8, 8)];
    expect(ownerMap(layers, 2)).toEqual([0, 1, 0]);
  });

  it('costs the inversions and the FOP products of a layer', () => {
    const a = 9;
    const g = 4;
    expect(layerCost(dense('x', 8, 4))).toBe(a ** 3 + g ** 3 + 6 * (a * a * g + a * g * g));
  });
});
