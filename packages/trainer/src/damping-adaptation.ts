/**
 * The update with Levenberg-Marquardt damping adaptation (Martens 2010, sec. 4.1; kfac-jax's
 * rule): every `adaptEvery` steps of an adaptive damping schedule, the update is applied between
 * two loss measurements, and the reduction ratio
 *   rho = (L(theta + delta) - L(theta)) / q(delta),   q(delta) = g^T delta + 1/2 delta^T (F + lambda I) delta
 * is passed to the schedule. Both losses are measured in inference mode on the same batch, so
 * dropout and batch statistics add no noise to rho. The extra forward passes are the 'adapt' phase.
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureEstimator, DampingSchedule, LossFunction, ParamMap, UpdateRule } from '@natgrad/core';
import { quadraticModelChange, reductionRatio } from '@natgrad/damping';
import type { ModelCapture } from './capture/index';
import { disposeMap } from './step';
import type { PhaseTimer } from './timings';

/** Whether this step's update is measured for the damping schedule. */
export function adaptationDue(curvature: CurvatureEstimator | null, damping: DampingSchedule | null, step: number): boolean {
  return curvature !== null && damping !== null && damping.adaptEvery !== undefined && typeof damping.observe === 'function' && (step + 1) % damping.adaptEvery === 0;
}

export interface AdaptationParts {
  capture: ModelCapture;
  loss: LossFunction;
  updateRule: UpdateRule;
  curvature: CurvatureEstimator;
  damping: DampingSchedule;
}

/** Applies the update and reports its reduction ratio to the damping schedule. */
export function applyWithAdaptation(
  parts: AdaptationParts,
  timer: PhaseTimer,
  x: tf.Tensor,
  y: tf.Tensor,
  directions: ParamMap,
  meanGrads: ParamMap,
  learningRate: number,
  damping: number,
  step: number,
): void {
  const vars = parts.capture.variables;
  const before = timer.time('adapt', () => {
    const snapshot: ParamMap = {};
    for (const name of Object.keys(directions)) snapshot[name] = tf.clone(vars[name]);
    return { snapshot, loss: inferenceLoss(parts, x, y) };
  });
  timer.time('update', () => parts.updateRule.apply(directions, learningRate));
  timer.time('adapt', () => {
    const delta: ParamMap = tf.tidy(() => {
      const d: ParamMap = {};
      for (const [name, old] of Object.entries(before.snapshot)) d[name] = tf.sub(vars[name], old);
      return d;
    });
    const after = inferenceLoss(parts, x, y);
    const q = quadraticModelChange(meanGrads, delta, parts.curvature, damping);
    disposeMap(delta);
    disposeMap(before.snapshot);
    // NaN (non-finite inputs) is passed on: the schedule treats it as a failed step.
    const rho = reductionRatio(before.loss, after, q);
    q.dispose();
    parts.damping.observe!({ step, reductionRatio: rho });
  });
}

function inferenceLoss(parts: AdaptationParts, x: tf.Tensor, y: tf.Tensor): number {
  const t = tf.tidy(() => parts.loss.compute(y, parts.capture.predict(x, { training: false })));
  const v = t.dataSync()[0];
  t.dispose();
  return v;
}
