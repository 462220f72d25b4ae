/**
 * The quadratic model behind Levenberg-Marquardt damping (Martens 2010, "Deep learning via
 * Hessian-free optimization", sec. 4.1; the rule kfac-jax and tensorflow/kfac apply every 5 steps):
 *   q(delta) = g^T delta + 1/2 delta^T (F + lambda I) delta
 * where g is the mean gradient the step was computed from and delta the parameter change the
 * update rule actually made. F delta comes from the curvature view's UNDAMPED multiply(); parameters
 * in no curvature block contribute g^T delta + lambda/2 ||delta||^2 only (no curvature known).
 * The reduction ratio rho = (L(theta + delta) - L(theta)) / q(delta) is then what the damping
 * schedule observes.
 */
import * as tf from '@tensorflow/tfjs';
import type { CurvatureView, ParamMap } from '@natgrad/core';

/** q(delta) as a host number (one device read). Inputs stay owned by the caller. */
export function quadraticModelChange(view: CurvatureView, grads: ParamMap, delta: ParamMap, damping: number): number {
  const inBlocks = new Set(view.blocks.flatMap((b) => b.params));
  const blockDelta: ParamMap = {};
  for (const name of Object.keys(delta)) if (inBlocks.has(name)) blockDelta[name] = delta[name];
  const fDelta = Object.keys(blockDelta).length === 0 ? {} : view.multiply(blockDelta);
  try {
    const q = tf.tidy(() => {
      const terms: tf.Tensor[] = [];
      for (const [name, d] of Object.entries(delta)) {
        const g = grads[name];
        if (g !== undefined) terms.push(tf.sum(tf.mul(g, d)));
        const curvature = fDelta[name] === undefined ? tf.scalar(0) : tf.sum(tf.mul(d, fDelta[name]));
        terms.push(tf.mul(tf.scalar(0.5), tf.add(curvature, tf.mul(tf.scalar(damping), tf.sum(tf.square(d))))));
      }
      return terms.length === 0 ? tf.scalar(0) : tf.addN(terms);
    });
    const value = q.dataSync()[0];
    q.dispose();
    return value;
  } finally {
    tf.dispose(Object.values(fDelta));
  }
}

/** rho = (lossAfter - lossBefore) / q; NaN when q is not negative (no predicted decrease to compare with). */
export function reductionRatio(lossBefore: number, lossAfter: number, q: number): number {
  return q < 0 ? (lossAfter - lossBefore) / q : Number.NaN;
}
