/**
 * How far a backend's first training steps may sit from the cpu backend's and still be the same
 * computation, used by the real-browser tier (scripts/web/e2e.mjs) through the page's test hook.
 * The bound follows packages/trainer/src/webgpu-parity.test.ts (read its header for the full
 * argument): the cpu backend stores float32 but accumulates in float64, a GPU or wasm accumulates
 * in float32, and an n-term float32 dot product is off by at most γ_n = n·u times the sum of its
 * absolute terms (Higham, eq. 3.5), u = 2⁻²³. Along the loss the accumulations are each layer's
 * fan-in + 1, the batch mean and the class sum: N = Σ(fanIn+1) + batch + classes, plus 8 ulps for
 * exp/log/softmax, so γ = (N+8)·u.
 *   - Step 0 runs on identical weights: |ΔL₀| ≤ γ·max(1,|L₀|) and |Δ‖g₀‖| ≤ γ·‖g₀‖.
 *   - Later steps of an elementwise rule (sgd, adamw) start from weights already off by
 *     E_k ≤ γ·Σ_{j<k}‖θ_{j+1}−θ_j‖∞ + k·u·max|θ|, which moves the loss by at most √P·‖g_k‖·E_k.
 *   - A preconditioned rule's later steps also carry the damped curvature's condition number κ,
 *     which the page does not estimate, so only its step 0 is compared (its loss still has to fall).
 * Each bound is doubled (first-order analysis).
 */

const U = 2 ** -23;

/** The model's shape as the bound needs it. */
export interface ModelShape {
  /** Σ(fanIn+1) over the Dense layers. */
  fanInSum: number;
  classes: number;
  /** Trainable parameters. */
  parameters: number;
}

/** What one run of the hook reports per step. */
export interface StepTrace {
  loss: number;
  gradNorm: number;
  /** ‖θ_{k+1} − θ_k‖∞ over all trainable weights. */
  move: number;
  /** max |θ_{k+1}|. */
  maxAbsWeight: number;
}

export interface ParityCheck {
  step: number;
  quantity: 'loss' | 'gradNorm';
  reference: number;
  candidate: number;
  bound: number;
  ok: boolean;
}

export function parityGamma(shape: ModelShape, batchSize: number): number {
  return (shape.fanInSum + batchSize + shape.classes + 8) * U;
}

/**
 * Compares the candidate's first steps with the reference's. `elementwise` (sgd, adamw) compares
 * every given step's loss; otherwise only step 0's loss and gradient norm.
 */
export function compareFirstSteps(reference: readonly StepTrace[], candidate: readonly StepTrace[], shape: ModelShape, batchSize: number, elementwise: boolean): ParityCheck[] {
  const gamma = parityGamma(shape, batchSize);
  const steps = elementwise ? Math.min(reference.length, candidate.length) : Math.min(1, reference.length, candidate.length);
  const checks: ParityCheck[] = [];
  let moved = 0;
  for (let k = 0; k < steps; k++) {
    const ref = reference[k];
    const got = candidate[k];
    const weightError = gamma * moved + k * U * (k > 0 ? reference[k - 1].maxAbsWeight : 0);
    const lossBound = 2 * (gamma * Math.max(1, Math.abs(ref.loss)) + Math.sqrt(shape.parameters) * ref.gradNorm * weightError);
    checks.push({ step: k, quantity: 'loss', reference: ref.loss, candidate: got.loss, bound: lossBound, ok: Math.abs(ref.loss - got.loss) <= lossBound });
    if (k === 0) {
      const gradBound = 2 * gamma * ref.gradNorm;
      checks.push({ step: 0, quantity: 'gradNorm', reference: ref.gradNorm, candidate: got.gradNorm, bound: gradBound, ok: Math.abs(ref.gradNorm - got.gradNorm) <= gradBound });
    }
    moved += ref.move;
  }
  return checks;
}
