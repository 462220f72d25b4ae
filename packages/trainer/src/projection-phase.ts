/**
 * The projection phase of a step (fop-spec.md, "One step", steps 2-8): optional clipping of the
 * mean gradient's global norm, then the projection combines the sub-batch gradients through the
 * curvature view into one direction per parameter. Without an estimator the projection sees a
 * view with no blocks, so every parameter gets the (projected) mean gradient.
 */
import type * as tf from './tf';
import type { CurvatureEstimator, CurvatureView, ProjectionDiagnostics, ProjectionStrategy } from '@natgrad/core';
import { clipByMeanNorm } from './clipping';
import { disposeMap } from './step';
import type { StepTensors } from './step-tensors';

/** A view with no blocks: every parameter gets the (projected) mean gradient. */
const NO_CURVATURE: CurvatureView = { blocks: [], precondition: () => ({}), multiply: () => ({}) };

export interface ProjectionOutcome {
  diagnostics: Record<string, ProjectionDiagnostics>;
  /** The mean gradient's norm before clipping, when clipping ran (owned by the step's tensors). */
  clippedNorm: tf.Scalar | null;
}

/**
 * Writes the directions and mean gradients to `t`; replaces t.grads by their clipped copies.
 * Asynchronous because the projection reads its diagnostics from the device.
 */
export async function projectGradients(
  t: StepTensors,
  projection: ProjectionStrategy,
  curvature: CurvatureEstimator | null,
  clipNorm: number | null,
): Promise<ProjectionOutcome> {
  let clippedNorm: tf.Scalar | null = null;
  if (clipNorm !== null) {
    const { clipped, norm } = clipByMeanNorm(t.grads, clipNorm);
    for (const g of t.grads) disposeMap(g);
    t.grads = clipped;
    clippedNorm = t.own(norm);
  }
  const result = await projection.combine(t.grads, curvature ?? NO_CURVATURE);
  t.directions = result.directions;
  t.meanGrads = result.meanGrads;
  return { diagnostics: result.diagnostics, clippedNorm };
}
