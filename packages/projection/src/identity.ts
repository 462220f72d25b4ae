/**
 * identity(): plain natural-gradient preconditioning of one batch (KFAC's usual step). The trainer
 * computes one gradient on the whole batch; block parameters get F^-1 g from the curvature view,
 * all other parameters get g itself. No projection, so no diagnostics.
 */
import * as tf from '@tensorflow/tfjs-core';
import type { CurvatureView, ParamMap, ProjectionResult, ProjectionStrategy } from '@natgrad/core';
import { applyView, blockParams, partitionBlocks, pick, validateSubBatchGrads } from './internal/param-blocks';

class IdentityProjection implements ProjectionStrategy {
  readonly name = 'identity';
  readonly subBatches = 1;

  async combine(subBatchGrads: readonly ParamMap[], curvature: CurvatureView): Promise<ProjectionResult> {
    const names = validateSubBatchGrads(this.name, subBatchGrads, 1);
    const { blocks, free } = partitionBlocks(this.name, curvature, names);
    const [g] = subBatchGrads;
    return tf.tidy(() => {
      const directions = applyView(this.name, curvature, 'precondition', pick(g, blockParams(blocks)));
      const kept: ParamMap = {};
      for (const p of blockParams(blocks)) kept[p] = directions[p];
      // Separate handles: the caller disposes directions and meanGrads independently.
      for (const p of free) kept[p] = tf.clone(g[p]);
      const meanGrads: ParamMap = {};
      for (const p of names) meanGrads[p] = tf.clone(g[p]);
      return { directions: kept, meanGrads, diagnostics: {} };
    });
  }
}

/** One batch, no projection: directions = F^-1 g (block parameters) or g (all others). */
export function identity(): ProjectionStrategy {
  return new IdentityProjection();
}
