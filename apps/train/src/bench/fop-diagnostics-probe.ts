/**
 * FOP's per-step coefficients (beta*, the weight of g_perp, and eta*, the per-layer step size;
 * arXiv 2508.13898 eqs. for beta* and eta*) as the damping study measures them. The trainer returns
 * them in every StepResult.diagnostics, but `natgrad train` (fit-loop's batch logs, the run
 * recorder) does not record them, and the study runs cells through `natgrad train` itself. So for
 * the duration of one cell the study wraps the combine() of FOP's projection (shared by every
 * instance, hence the prototype) and hands each step's per-block diagnostics to a sink; the wrap
 * changes no value the trainer sees. Once the run recorder writes these to metrics.jsonl, this
 * probe should give way to reading them there.
 */
import type { CurvatureView, ParamMap, ProjectionDiagnostics, ProjectionResult, ProjectionStrategy } from '@natgrad/core';
import { fisherOrthogonal } from '@natgrad/projection';

/** One step's diagnostics, averaged over the curvature blocks that reported them. */
export interface StepCoefficients {
  beta: number;
  eta: number;
  blocks: number;
}

/** The block mean of beta and eta, or null when no block reported both (diagnostics off). */
export function meanCoefficients(diagnostics: Record<string, ProjectionDiagnostics>): StepCoefficients | null {
  const blocks = Object.values(diagnostics).filter((d) => d.beta !== undefined && d.eta !== undefined);
  if (blocks.length === 0) return null;
  const mean = (f: (d: ProjectionDiagnostics) => number) => blocks.reduce((s, d) => s + f(d), 0) / blocks.length;
  return { beta: mean((d) => d.beta!), eta: mean((d) => d.eta!), blocks: blocks.length };
}

type Combine = (subBatchGrads: readonly ParamMap[], curvature: CurvatureView) => Promise<ProjectionResult>;

let active = false;

/**
 * Sends every FOP step's block-mean coefficients to `sink` until the returned function is called.
 * One probe at a time (the study runs one cell at a time); a second is refused.
 */
export function probeFopCoefficients(sink: (c: StepCoefficients) => void): () => void {
  if (active) throw new Error('probeFopCoefficients: a probe is already installed (one cell at a time)');
  const proto = Object.getPrototypeOf(fisherOrthogonal()) as { combine: Combine };
  const original = proto.combine;
  proto.combine = async function (this: ProjectionStrategy, subBatchGrads, curvature) {
    const result = await original.call(this, subBatchGrads, curvature);
    const c = meanCoefficients(result.diagnostics);
    if (c !== null) sink(c);
    return result;
  };
  active = true;
  return () => {
    proto.combine = original;
    active = false;
  };
}
