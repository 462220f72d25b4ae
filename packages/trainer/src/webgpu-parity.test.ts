/**
 * Backend parity of whole training runs: sgd, adamw, kfac, fop and diagonal-fop train a tiny MLP
 * for several steps on the test backend and on the cpu backend, from the same seeded weights on the
 * same batch, and the losses (step by step), the gradient norms and the final weights must agree
 * within a float32 bound. On the WebGPU tier this is the end-to-end check that a GPU trains what
 * cpu trains (an op that silently returns garbage on WebGPU, like tf.addN with 8+ inputs, moves
 * the numbers far outside the bound); on the cpu tier the test backend is compared with wasm
 * instead, so the test runs in every tier. A second model has 8 parameter tensors (4 Dense layers)
 * and trains FOP with global-norm clipping active and a Levenberg-Marquardt observation every step,
 * the two places where the trainer and @natgrad/damping sum one term per parameter tensor.
 *
 * The bound (why these numbers). The reference runs on cpu, which stores float32 but accumulates
 * in float64; the other backend accumulates in float32. An n-term float32 sum or dot product is
 * off by at most γ_n = n·u times the sum of the absolute terms (Higham, Accuracy and Stability,
 * eq. 3.5), u = 2⁻²³. Along the loss the accumulations are every layer's fan-in (+1 for the
 * bias), the batch mean and the class sum, so N = Σ(fanIn+1) + batch + classes; 8 more ulps cover
 * exp/log/softmax, whose WGSL versions are only a few ulps accurate. With γ = (N+8)·u:
 *   - step k's loss differs by the rounding of this evaluation, γ·max(1,|L|), plus the effect of
 *     the weight difference E_k already accumulated: |ΔL| ≤ ‖g‖₁·E_k ≤ √P·‖g‖₂·E_k (P parameters);
 *   - the weights: each step moves them by lr·d, and d carries a relative error of γ for the
 *     elementwise rules (sgd, adamw), γ·κ for the preconditioned ones, κ = 1 + ‖F‖/λ the condition
 *     number of the damped curvature (F is estimated on the cpu run by power iteration through the
 *     public CurvatureView.multiply); so E_k ≤ κ·γ·Σ_{j<k}‖θ_{j+1} − θ_j‖∞ + k·u·max|θ| (one
 *     rounding of the stored weights per step);
 *   - the gradient norm: at step 0 (same weights) only its rounding, γ·‖g‖; later, for the
 *     curvature runs, also the change of g under E_k, ‖H‖·√P·E_k with ‖H‖ ≈ ‖F‖ (for a softmax
 *     cross-entropy the Fisher is the Gauss-Newton part of the Hessian); the elementwise runs have no
 *     curvature estimate, and their later gradients are checked through the losses and weights;
 *   - ρ = (L(θ+δ) − L(θ))/q(δ): the loss change cancels digits, so its relative error is at most
 *     2·tol(L)/|ΔL|, with ΔL = L_{k+1} − L_k (one batch every step, so step k+1's loss is L(θ+δ) of
 *     step k); q carries the direction's (2κ+1)·γ.
 * Each bound is doubled (first-order analysis). The measured cpu/wasm differences are 1–2 ulps, two
 * to three orders of magnitude inside; the addN fault gives ρ = +Infinity and a wrong norm, and the
 * runs move the weights by far more than the bound (checked, so the comparison is not vacuous).
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureView, ParamMap } from '@natgrad/core';
import { sumTensors } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Composition, Trainer, adamw, diagonalFop, fop, kfac, sgd } from './index';
import { RecordingDamping, blobs, weightValues } from './testing/problems';

const U = 2 ** -23;
const BATCH = 16;
const STEPS = 6;
const DAMPING = 0.03;

/** The backend under test and the one it is compared with. */
const testBackend = { name: 'cpu', reference: 'cpu' };
beforeAll(async () => {
  testBackend.name = tf.getBackend();
  if (testBackend.name === 'cpu') {
    // The cpu tier has no GPU: compare wasm (float32, like a GPU) with cpu instead.
    const { selectBackend } = await import('@natgrad/backends/node');
    await selectBackend({ prefer: 'wasm' });
    testBackend.name = 'wasm';
    await tf.setBackend('cpu');
  }
});
afterAll(async () => {
  await tf.setBackend(process.env.NATGRAD_TEST_BACKEND ?? 'cpu');
});

async function withBackend<T>(backend: string, fn: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  await tf.setBackend(backend);
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** A seeded MLP (relu, softmax head); `units` = [inputs, hidden..., classes]. */
function mlp(units: readonly number[]): tf.LayersModel {
  const model = tf.sequential();
  for (let i = 1; i < units.length; i++) {
    model.add(
      tf.layers.dense({
        units: units[i],
        activation: i === units.length - 1 ? 'softmax' : 'relu',
        kernelInitializer: tf.initializers.glorotUniform({ seed: 11 + i }),
        biasInitializer: tf.initializers.randomUniform({ minval: -0.1, maxval: 0.1, seed: 31 + i }),
        ...(i === 1 ? { inputShape: [units[0]] } : {}),
      }),
    );
  }
  return model;
}

interface Trajectory {
  /** Losses of steps 0..STEPS (one more step than compared, for ρ's loss change). */
  losses: number[];
  gradNorms: number[];
  rhos: number[];
  /** Weights before each step and after the last one. */
  weights: Float32Array[][];
  /** ‖F‖ of the final curvature statistics (0 without curvature); cpu runs only. */
  fisherNorm: number;
}

interface Case {
  name: string;
  units: readonly number[];
  composition: (damping: RecordingDamping) => Composition;
  /** Whether directions are preconditioned by (F + λI)⁻¹. */
  curvature: boolean;
}

const SMALL = [6, 16, 4] as const;
// Four Dense layers: 8 parameter tensors, one more than a WebGPU addN can bind.
const DEEP = [6, 10, 10, 10, 4] as const;

const cases: Case[] = [
  { name: 'sgd', units: SMALL, composition: () => sgd({ learningRate: 0.1 }), curvature: false },
  { name: 'adamw', units: SMALL, composition: () => adamw({ learningRate: 0.01 }), curvature: false },
  { name: 'kfac', units: SMALL, composition: () => kfac({ learningRate: 0.01, damping: DAMPING, inverseEvery: 3 }), curvature: true },
  { name: 'fop', units: SMALL, composition: () => fop({ learningRate: 0.01, damping: DAMPING, inverseEvery: 3 }), curvature: true },
  { name: 'diagonal-fop', units: SMALL, composition: () => diagonalFop({ learningRate: 0.01, damping: DAMPING, inverseEvery: 3 }), curvature: true },
  {
    name: 'fop, 8 parameter tensors, clipping and Levenberg-Marquardt observations',
    units: DEEP,
    // clipNorm below the gradient norm, so clipping scales every step.
    composition: (damping) => fop({ learningRate: 0.01, damping, inverseEvery: 3, clipNorm: 0.05 }),
    curvature: true,
  },
];

/** ‖F‖₂ of a curvature view by power iteration on its blocks (device only, one read). */
async function fisherNorm(view: CurvatureView, variables: Record<string, tf.Variable>): Promise<number> {
  const params = view.blocks.flatMap((b) => b.params);
  if (params.length === 0) return 0;
  let v: ParamMap = {};
  for (const [i, p] of params.entries()) v[p] = tf.randomNormal(variables[p].shape, 0, 1, 'float32', 7 + i);
  let norm = tf.scalar(0);
  for (let it = 0; it < 30; it++) {
    const next = tf.tidy(() => {
      const w = view.multiply(v);
      const n = tf.sqrt(sumTensors(params.map((p) => tf.sum(tf.square(w[p])))));
      const out: ParamMap = {};
      for (const p of params) out[p] = tf.div(w[p], n);
      return { out, n };
    });
    tf.dispose([...Object.values(v), norm]);
    v = next.out;
    norm = next.n as tf.Scalar;
  }
  const value = (await norm.data())[0];
  tf.dispose([...Object.values(v), norm]);
  return value;
}

async function train(backend: string, c: Case): Promise<Trajectory> {
  return withBackend(backend, async () => {
    const before = tf.memory().numTensors;
    const data = blobs({ n: BATCH, dims: c.units[0], classes: c.units[c.units.length - 1], seed: 5 });
    const model = mlp(c.units);
    const spy = new RecordingDamping(DAMPING, 1);
    const trainer = new Trainer({ model, loss: 'categoricalCrossentropy', ...c.composition(spy), seed: 3 });
    const out: Trajectory = { losses: [], gradNorms: [], rhos: [], weights: [], fisherNorm: 0 };
    try {
      for (let k = 0; k <= STEPS; k++) {
        out.weights.push(await weightValues(model));
        const r = await trainer.step(data.x, data.y);
        expect(r.skipped, `${c.name} on ${backend}: step ${k} skipped`).toBe(false);
        out.losses.push(r.loss);
        out.gradNorms.push(r.gradNorm);
      }
      out.rhos = spy.observations.map((o) => o.reductionRatio);
      if (trainer.curvature !== null && backend === 'cpu') out.fisherNorm = await fisherNorm(trainer.curvature, trainer.capture.variables);
    } finally {
      trainer.dispose();
      model.dispose();
      tf.dispose([data.x, data.y]);
    }
    expect(tf.memory().numTensors).toBe(before);
    return out;
  });
}

const maxAbs = (ws: Float32Array[]) => Math.max(...ws.map((w) => w.reduce((m, v) => Math.max(m, Math.abs(v)), 0)));
const maxDiff = (a: Float32Array[], b: Float32Array[]) => Math.max(...a.map((w, i) => w.reduce((m, v, j) => Math.max(m, Math.abs(v - b[i][j])), 0)));

describe('training on the test backend follows the cpu backend within float32 rounding', () => {
  for (const c of cases) {
    it(c.name, async () => {
      const ref = await train('cpu', c);
      const run = await train(testBackend.name, c);
      const params = ref.weights[0].reduce((n, w) => n + w.length, 0);
      const layers = c.units.slice(0, -1).reduce((n, fanIn) => n + fanIn + 1, 0);
      const gamma = (layers + BATCH + c.units[c.units.length - 1] + 8) * U;
      const kappa = c.curvature ? 1 + ref.fisherNorm / DAMPING : 1;
      const scale = maxAbs(ref.weights[0]);
      let path = 0;
      for (let k = 0; k < STEPS; k++) {
        // E_k: the weight difference the first k steps can have accumulated.
        const e = kappa * gamma * path + k * U * scale;
        const where = `${c.name}, ${testBackend.name} vs cpu, step ${k}`;
        const lossTol = 2 * (gamma * Math.max(1, Math.abs(ref.losses[k])) + Math.sqrt(params) * ref.gradNorms[k] * e);
        expect(Math.abs(run.losses[k] - ref.losses[k]), `${where}: loss ${run.losses[k]} vs ${ref.losses[k]}`).toBeLessThanOrEqual(lossTol);
        if (k === 0 || c.curvature) {
          const normTol = 2 * (gamma * ref.gradNorms[k] + ref.fisherNorm * Math.sqrt(params) * e);
          expect(Math.abs(run.gradNorms[k] - ref.gradNorms[k]), `${where}: gradient norm ${run.gradNorms[k]} vs ${ref.gradNorms[k]}`).toBeLessThanOrEqual(normTol);
        }
        if (ref.rhos.length > 0) {
          const change = Math.abs(ref.losses[k + 1] - ref.losses[k]);
          const rhoTol = 2 * Math.abs(ref.rhos[k]) * ((2 * kappa + 1) * gamma + (2 * lossTol) / change);
          expect(Number.isFinite(run.rhos[k]), `${where}: ρ ${run.rhos[k]}`).toBe(true);
          expect(Math.abs(run.rhos[k] - ref.rhos[k]), `${where}: ρ ${run.rhos[k]} vs ${ref.rhos[k]}`).toBeLessThanOrEqual(rhoTol);
        }
        expect(maxDiff(run.weights[k], ref.weights[k]), `${where}: weights`).toBeLessThanOrEqual(2 * e + U * scale);
        path += maxDiff(ref.weights[k + 1], ref.weights[k]);
      }
      // The weights after the last compared step.
      const e = kappa * gamma * path + STEPS * U * scale;
      expect(maxDiff(run.weights[STEPS], ref.weights[STEPS]), `${c.name}: final weights`).toBeLessThanOrEqual(2 * e + U * scale);
      // The runs did train, by far more than the bound: two frozen models would pass trivially.
      expect(maxDiff(ref.weights[STEPS], ref.weights[0])).toBeGreaterThan(10 * (2 * e + U * scale));
      expect(ref.losses[STEPS]).toBeLessThan(ref.losses[0]);
      if (c.units === DEEP) expect(ref.rhos).toHaveLength(STEPS + 1);
    });
  }
});
