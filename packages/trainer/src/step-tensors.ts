/**
 * The tensors one optimisation step creates, in one place, so that every exit of the step (done,
 * skipped for non-finite values, or failed with an error) releases the same set and leaves
 * tf.memory().numTensors unchanged. Each phase writes what it produced here; the step disposes it.
 */
import * as tf from './tf';
import type { LayerCapture, ParamMap } from '@natgrad/core';
import { disposeMap, splitBatch } from './step';

export class StepTensors {
  /** The projection's sub-batches (the caller's own x and y when there is only one). */
  readonly xs: tf.Tensor[];
  readonly ys: tf.Tensor[];
  /** Per sub-batch: mean loss, gradients, captures (statistics steps only) and model outputs. */
  readonly losses: tf.Scalar[] = [];
  grads: ParamMap[] = [];
  readonly captures: Record<string, LayerCapture>[] = [];
  readonly outputs: tf.Tensor[] = [];
  /** What the projection returned (null until it ran). */
  directions: ParamMap | null = null;
  meanGrads: ParamMap | null = null;
  private readonly owned: tf.Tensor[] = [];

  constructor(
    x: tf.Tensor,
    y: tf.Tensor,
    private readonly subBatches: number,
  ) {
    this.xs = splitBatch(x, subBatches);
    this.ys = splitBatch(y, subBatches);
  }

  /** Registers every tensor of a map the step created for release at the end; returns it. */
  ownMap(map: ParamMap): ParamMap {
    for (const t of Object.values(map)) this.owned.push(t);
    return map;
  }

  /** Registers a tensor the step created for release at the end; returns it. */
  own<T extends tf.Tensor>(t: T): T {
    this.owned.push(t);
    return t;
  }

  dispose(): void {
    if (this.subBatches > 1) tf.dispose([...this.xs, ...this.ys]);
    tf.dispose([...this.losses, ...this.outputs, ...this.owned]);
    for (const g of this.grads) disposeMap(g);
    for (const c of this.captures) disposeMap(c);
    disposeMap(this.directions);
    disposeMap(this.meanGrads);
  }
}
