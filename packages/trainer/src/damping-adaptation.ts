/**
 * The update with Levenberg-Marquardt damping adaptation (Martens 2010, sec. 4.1; kfac-jax's
 * rule): every `adaptEvery` steps of an adaptive damping schedule, the update is applied between
 * two loss measurements, and the reduction ratio
 *   rho = (L(theta + delta) - L(theta)) / q(delta),   q(delta) = g^T delta + 1/2 delta^T (F + lambda I) delta
 * is passed to the schedule. Both losses are measured in inference mode on the same batch, so
 * dropout and batch statistics add no noise to rho. The extra forward passes are the 'adapt' phase.
 */
import * as tf from './tf';
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

/**
 * Applies the update and reports its reduction ratio to the damping schedule. The two losses and
 * q(delta) stay on the device until the end and are read in one awaited transfer.
 */
export async function applyWithAdaptation(
  parts: AdaptationParts,
  timer: PhaseTimer,
  x: tf.Tensor,
  y: tf.Tensor,
  directions: ParamMap,
  meanGrads: ParamMap,
  learningRate: number,
  damping: number,
  step: number,
): Promise<void> {
  const vars = parts.capture.variables;
  const snapshot: ParamMap = {};
  const owned: tf.Tensor[] = [];
  try {
    const lossBefore = timer.time('adapt', () => {
      for (const name of Object.keys(directions)) snapshot[name] = tf.clone(vars[name]);
      return inferenceLoss(parts, x, y);
    });
    owned.push(lossBefore);
    timer.time('update', () => parts.updateRule.apply(directions, learningRate));
    const packed = timer.time('adapt', () => {
      const delta: ParamMap = tf.tidy(() => {
        const d: ParamMap = {};
        for (const [name, old] of Object.entries(snapshot)) d[name] = tf.sub(vars[name], old);
        return d;
      });
      try {
        const lossAfter = inferenceLoss(parts, x, y);
        const q = quadraticModelChange(meanGrads, delta, parts.curvature, damping);
        const stacked = tf.stack([lossBefore, lossAfter, q]);
        tf.dispose([lossAfter, q]);
        return stacked;
      } finally {
        disposeMap(delta);
      }
    });
    owned.push(packed);
    const [before, after, q] = await timer.timeAsync('adapt', () => packed.data());
    // NaN (non-finite inputs) is passed on: the schedule treats it as a failed step.
    const rho = reductionRatio(before, after, q);
    parts.damping.observe!({ step, reductionRatio: rho });
  } finally {
    disposeMap(snapshot);
    tf.dispose(owned);
  }
}

/** The mean loss in inference mode, as a device scalar the caller owns. */
function inferenceLoss(parts: AdaptationParts, x: tf.Tensor, y: tf.Tensor): tf.Scalar {
  return tf.tidy(() => parts.loss.compute(y, parts.capture.predict(x, { training: false })));
}
