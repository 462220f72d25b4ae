/**
 * Test-only CurvatureView with an explicit matrix per block: multiply = F v and precondition =
 * M v, where M is (F + lambda I)^-1 by default or any explicit SPD "inverse" the test supplies
 * (e.g. the KFAC damped inverse (A + lambda_A I)^-1 (x) (G + lambda_G I)^-1). Computation runs in
 * float64 on the host, independently of the projection code under test, and the view counts its
 * calls so tests can check the cost of a strategy.
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureBlock, CurvatureView, ParamMap } from '@natgrad/core';
import { type Matrix, addScaledIdentity, inverse, matVec } from './dense-math';

export interface DenseBlockSpec {
  name: string;
  /** Parameter names and shapes; the block vector is their row-major flattenings concatenated. */
  params: { name: string; shape: number[] }[];
  /** The undamped curvature F (symmetric positive semi-definite). */
  matrix: Matrix;
  /** The preconditioner; default (F + damping I)^-1. */
  inverse?: Matrix;
}

export interface DenseView extends CurvatureView {
  readonly calls: { precondition: number; multiply: number };
  /** Every vector map the view received, as float64 arrays, in call order. */
  readonly log: { op: 'precondition' | 'multiply'; values: Record<string, number[]> }[];
  /** Explicit F and preconditioner per block, for reference computations. */
  readonly matrices: Record<string, { f: Matrix; inv: Matrix }>;
}

export function denseView(specs: readonly DenseBlockSpec[], damping = 0): DenseView {
  const matrices: Record<string, { f: Matrix; inv: Matrix }> = {};
  for (const s of specs) {
    const size = s.params.reduce((n, p) => n + p.shape.reduce((a, b) => a * b, 1), 0);
    if (s.matrix.length !== size) throw new Error(`dense view: block ${s.name} matrix is not ${size}x${size}`);
    matrices[s.name] = { f: s.matrix, inv: s.inverse ?? inverse(addScaledIdentity(s.matrix, damping)) };
  }
  const blocks: CurvatureBlock[] = specs.map((s) => ({ name: s.name, params: s.params.map((p) => p.name) }));
  const calls = { precondition: 0, multiply: 0 };
  const log: DenseView['log'] = [];

  const apply = (vectors: ParamMap, which: 'f' | 'inv'): ParamMap => {
    const values: Record<string, number[]> = {};
    for (const [k, v] of Object.entries(vectors)) values[k] = Array.from(v.dataSync());
    log.push({ op: which === 'f' ? 'multiply' : 'precondition', values });
    const out: ParamMap = {};
    for (const s of specs) {
      const present = s.params.filter((p) => p.name in vectors);
      if (present.length === 0) continue;
      if (present.length !== s.params.length) throw new Error(`dense view: partial block ${s.name}`);
      const flat: number[] = [];
      for (const p of s.params) flat.push(...vectors[p.name].dataSync());
      const r = matVec(matrices[s.name][which], flat);
      let offset = 0;
      for (const p of s.params) {
        const n = p.shape.reduce((a, b) => a * b, 1);
        out[p.name] = tf.tensor(r.slice(offset, offset + n), p.shape, 'float32');
        offset += n;
      }
    }
    return out;
  };

  return {
    blocks,
    calls,
    log,
    matrices,
    precondition(grads) {
      calls.precondition++;
      return apply(grads, 'inv');
    },
    multiply(vectors) {
      calls.multiply++;
      return apply(vectors, 'f');
    },
  };
}
