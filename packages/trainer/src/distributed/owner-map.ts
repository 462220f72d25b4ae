/**
 * Which rank owns which curvature layer in distributed training (arXiv 2508.13898, Algorithm 1:
 * each layer has one "specialist" that keeps its factors, inverts them and computes its FOP
 * direction). Why a cost-balanced map and not round-robin: the owners' work runs in parallel and
 * the step waits for the slowest, and layer costs differ by orders of magnitude (a 785x785 factor
 * costs ~2000x a 10x10 one to invert). The map is deterministic, computed from the layer shapes
 * alone, so every rank derives the same map without communicating, and a checkpoint resumed at
 * another size simply gets a new map (the checkpoint holds every layer, not a rank's shard).
 */
import { type LayerInfo, factorSizes } from '@natgrad/core';

/**
 * Relative cost of owning a layer, per step, in flops: the inversions of A (a x a) and G (g x g)
 * (cubic; amortised over inverseEvery steps but dominant for wide layers) plus FOP's three
 * products X W Y with W of a x g (2 (a^2 g + a g^2) flops each).
 */
export function layerCost(layer: LayerInfo): number {
  const { a, g } = factorSizes(layer);
  return a ** 3 + g ** 3 + 6 * (a * a * g + a * g * g);
}

/**
 * owners[i] = the rank that owns layers[i]. Longest-processing-time-first greedy: layers in
 * decreasing cost (ties: lower index first) each go to the rank with the least total cost so far
 * (ties: lower rank). Within 4/3 of the optimal makespan (Graham 1969); deterministic.
 */
export function ownerMap(layers: readonly LayerInfo[], size: number): number[] {
  const costs = layers.map(layerCost);
  const order = costs.map((_c, i) => i).sort((i, j) => costs[j] - costs[i] || i - j);
  const load = new Array<number>(size).fill(0);
  const owners = new Array<number>(layers.length).fill(0);
  for (const i of order) {
    let best = 0;
    for (let r = 1; r < size; r++) if (load[r] < load[best]) best = r;
    owners[i] = best;
    load[best] += costs[i];
  }
  return owners;
}
