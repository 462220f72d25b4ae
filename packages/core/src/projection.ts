/**
 * Projection strategies decide how the gradients of a batch's sub-batches are combined into the
 * preconditioned step direction (FOP: arXiv 2508.13898; averaging; identity).
 */
import type { CurvatureView } from './curvature';
import type { ParamMap } from './params';

/** Per-block diagnostics of one step (FOP fills all fields; others what applies). */
export interface ProjectionDiagnostics {
  /** Fisher-metric coefficient of g_diff on g_avg. */
  s?: number;
  /** Mixing weight of g_perp. */
  beta?: number;
  /** Per-layer step size. */
  eta?: number;
  /** ||g_perp|| / ||g_avg||. */
  perpRatio?: number;
}

export interface ProjectionResult {
  /**
   * The step direction for every parameter present in the sub-batch gradients: curvature-block
   * parameters preconditioned (and projected), all others the mean gradient. Caller owns them.
   */
  directions: ParamMap;
  /** Mean of the sub-batch gradients (g_avg), for every parameter. Caller owns them. */
  meanGrads: ParamMap;
  diagnostics: Record<string, ProjectionDiagnostics>;
}

export interface ProjectionStrategy {
  readonly name: string;
  /** How many equal, disjoint sub-batches the trainer must split each batch into. */
  readonly subBatches: number;
  /**
   * Combines the mean-loss gradients of the sub-batches. Input tensors stay owned by the caller.
   * Asynchronous because diagnostics are read from the device (awaited: WebGPU cannot read
   * synchronously); the input tensors must stay alive until the promise settles.
   */
  combine(subBatchGrads: readonly ParamMap[], curvature: CurvatureView): Promise<ProjectionResult>;
}
