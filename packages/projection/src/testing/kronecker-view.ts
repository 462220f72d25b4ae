/**
 * Test-only KFAC-structured CurvatureView: one Dense-like block per spec with factors A (input
 * side, bias-augmented) and G (output side). multiply(W) = A W G and precondition(W) =
 * (A + lambda_A I)^-1 W (G + lambda_G I)^-1, both as tfjs matmuls on the device with the inverses
 * computed once in float64 on the host (fop-spec.md, "One step"). The explicit Kronecker matrices
 * are exposed so tests can compare against a dense float64 reference.
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureView, ParamMap } from '@natgrad/core';
import { type Matrix, addScaledIdentity, inverse, kron } from './dense-math';

export interface KroneckerBlockSpec {
  name: string;
  kernel: string;
  /** Bias variable name, or null (then A has no bias row). */
  bias: string | null;
  /** [inputSize (+1 with bias)]^2 */
  a: Matrix;
  /** [outputSize]^2 */
  g: Matrix;
  lambdaA: number;
  lambdaG: number;
}

export interface KroneckerView extends CurvatureView {
  readonly calls: { precondition: number; multiply: number };
  /** Explicit F = A (x) G and preconditioner over [vec(kernel), bias] per block. */
  readonly matrices: Record<string, { f: Matrix; inv: Matrix }>;
  dispose(): void;
}

export function kroneckerView(specs: readonly KroneckerBlockSpec[]): KroneckerView {
  const calls = { precondition: 0, multiply: 0 };
  const matrices: Record<string, { f: Matrix; inv: Matrix }> = {};
  const factors = specs.map((s) => {
    const aInv = inverse(addScaledIdentity(s.a, s.lambdaA));
    const gInv = inverse(addScaledIdentity(s.g, s.lambdaG));
    matrices[s.name] = { f: kron(s.a, s.g), inv: kron(aInv, gInv) };
    return {
      spec: s,
      a: tf.tensor2d(s.a),
      g: tf.tensor2d(s.g),
      aInv: tf.tensor2d(aInv),
      gInv: tf.tensor2d(gInv),
    };
  });

  const apply = (vectors: ParamMap, left: 'a' | 'aInv', right: 'g' | 'gInv'): ParamMap => {
    const out: ParamMap = {};
    for (const f of factors) {
      const { kernel, bias } = f.spec;
      if (!(kernel in vectors)) continue;
      const kernelShape = vectors[kernel].shape;
      const res = tf.tidy(() => {
        const w = bias === null ? vectors[kernel] : tf.concat([vectors[kernel], tf.reshape(vectors[bias], [1, -1])], 0);
        const r = tf.matMul(tf.matMul(f[left], w as tf.Tensor2D), f[right]);
        if (bias === null) return [r];
        const rows = kernelShape[0];
        return [tf.slice(r, [0, 0], [rows, -1]), tf.reshape(tf.slice(r, [rows, 0], [1, -1]), [-1])];
      });
      out[kernel] = res[0];
      if (bias !== null) out[bias] = res[1];
    }
    return out;
  };

  return {
    blocks: specs.map((s) => ({ name: s.name, params: s.bias === null ? [s.kernel] : [s.kernel, s.bias] })),
    calls,
    matrices,
    precondition(grads) {
      calls.precondition++;
      return apply(grads, 'aInv', 'gInv');
    },
    multiply(vectors) {
      calls.multiply++;
      return apply(vectors, 'a', 'g');
    },
    dispose() {
      for (const f of factors) tf.dispose([f.a, f.g, f.aInv, f.gInv]);
    },
  };
}
