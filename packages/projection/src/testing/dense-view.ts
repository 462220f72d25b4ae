/**
 * Test-only CurvatureView with an explicit matrix per block: multiply = F v and precondition =
 * M v, where M is (F + lambda I)^-1 by default or any explicit SPD "inverse" the test supplies
 * (e.g. the KFAC damped inverse (A + lambda_A I)^-1 (x) (G + lambda_G I)^-1). The matrices are
 * built in float64 on the host, independently of the projection code under test; the products run
 * on the device as one float32 matrix-vector product per block, because a CurvatureView must answer
 * synchronously and WebGPU cannot read its inputs back synchronously. The view counts its calls so
 * tests can check the cost of a strategy, and can record what it received (read later, awaited).
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureBlock, CurvatureView, ParamMap } from '@natgrad/core';
import { type Matrix, addScaledIdentity, inverse } from './dense-math';

export interface DenseBlockSpec {
  name: string;
  /** Parameter names and shapes; the block vector is their row-major flattenings concatenated. */
  params: { name: string; shape: number[] }[];
  /** The undamped curvature F (symmetric positive semi-definite). */
  matrix: Matrix;
  /** The preconditioner; default (F + damping I)^-1. */
  inverse?: Matrix;
}

export interface DenseViewOptions {
  /** Keep a copy of every vector the view receives, for readLog(). Default false. */
  record?: boolean;
}

export type DenseViewOp = 'precondition' | 'multiply';

export interface DenseView extends CurvatureView {
  readonly calls: { precondition: number; multiply: number };
  /** Explicit float64 F and preconditioner per block, for reference computations. */
  readonly matrices: Record<string, { f: Matrix; inv: Matrix }>;
  /**
   * Every vector map the view received since the last readLog(), in call order, as float64 arrays
   * (needs `record: true`). Reads the recorded copies (awaited) and releases them.
   */
  readLog(): Promise<{ op: DenseViewOp; values: Record<string, number[]> }[]>;
  /** Releases the device copies of the matrices and any unread record. */
  dispose(): void;
}

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/**
 * A view over `specs`. Creates device tensors (the matrices): call it after the test backend is
 * set (in a test or a beforeAll, not at collection time) and dispose() it.
 */
export function denseView(specs: readonly DenseBlockSpec[], damping = 0, options: DenseViewOptions = {}): DenseView {
  const matrices: Record<string, { f: Matrix; inv: Matrix }> = {};
  for (const s of specs) {
    const size = s.params.reduce((n, p) => n + numel(p.shape), 0);
    if (s.matrix.length !== size) throw new Error(`dense view: block ${s.name} matrix is not ${size}x${size}`);
    matrices[s.name] = { f: s.matrix, inv: s.inverse ?? inverse(addScaledIdentity(s.matrix, damping)) };
  }
  const device = specs.map((s) => ({ f: tf.tensor2d(matrices[s.name].f), inv: tf.tensor2d(matrices[s.name].inv) }));
  const blocks: CurvatureBlock[] = specs.map((s) => ({ name: s.name, params: s.params.map((p) => p.name) }));
  const calls = { precondition: 0, multiply: 0 };
  const recorded: { op: DenseViewOp; tensors: ParamMap }[] = [];

  const apply = (vectors: ParamMap, op: DenseViewOp): ParamMap => {
    if (options.record === true) {
      // keep(): the strategy calls the view inside its tidy, which would release plain clones.
      const tensors: ParamMap = {};
      for (const [k, v] of Object.entries(vectors)) tensors[k] = tf.keep(tf.clone(v));
      recorded.push({ op, tensors });
    }
    const out: ParamMap = {};
    specs.forEach((s, b) => {
      const present = s.params.filter((p) => p.name in vectors);
      if (present.length === 0) return;
      if (present.length !== s.params.length) throw new Error(`dense view: partial block ${s.name}`);
      const parts = tf.tidy(() => {
        const flat = tf.concat(s.params.map((p) => tf.reshape(vectors[p.name], [-1, 1])));
        const r = tf.reshape(tf.matMul(op === 'multiply' ? device[b].f : device[b].inv, flat), [-1]);
        const pieces = tf.split(r, s.params.map((p) => numel(p.shape)));
        return pieces.map((piece, i) => tf.reshape(piece, s.params[i].shape));
      });
      s.params.forEach((p, i) => {
        out[p.name] = parts[i];
      });
    });
    return out;
  };

  return {
    blocks,
    calls,
    matrices,
    precondition(grads) {
      calls.precondition++;
      return apply(grads, 'precondition');
    },
    multiply(vectors) {
      calls.multiply++;
      return apply(vectors, 'multiply');
    },
    async readLog() {
      const entries = recorded.splice(0);
      const out: { op: DenseViewOp; values: Record<string, number[]> }[] = [];
      try {
        for (const e of entries) {
          const values: Record<string, number[]> = {};
          for (const [k, t] of Object.entries(e.tensors)) values[k] = Array.from(await t.data());
          out.push({ op: e.op, values });
        }
      } finally {
        for (const e of entries) tf.dispose(Object.values(e.tensors));
      }
      return out;
    },
    dispose() {
      for (const d of device) tf.dispose([d.f, d.inv]);
      for (const e of recorded.splice(0)) tf.dispose(Object.values(e.tensors));
    },
  };
}
