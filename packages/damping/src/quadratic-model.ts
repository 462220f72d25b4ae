/**
 * The local quadratic model behind Levenberg-Marquardt damping (Martens & Grosse 2015, Section 6.5):
 * q(delta) = g^T delta + 1/2 delta^T (F + lambda I) delta, and the reduction ratio
 * rho = (L(theta + delta) - L(theta)) / q(delta). q runs on the device through the curvature
 * view's F v (undamped) and is not read here, so the caller can read it together with the two
 * losses in one transfer; the ratio is a host computation on those three numbers, with guards so
 * that a vanishing model change or non-finite inputs give a value whose effect on the damping is
 * defined (see reductionRatio). readReductionRatio does that one awaited read for tensor inputs
 * (a GPU backend such as WebGPU in Node cannot read synchronously).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type CurvatureView, NatgradError, type ParamMap, describeValue, sumTensors } from '@natgrad/core';
import { invalid } from './internal/validate';

const WHERE = 'quadraticModelChange()';

function checkMap(what: string, map: ParamMap): string[] {
  if (map === null || typeof map !== 'object' || Array.isArray(map) || map instanceof tf.Tensor) {
    throw invalid(WHERE, what, 'a map of tensors keyed by variable name', map, `pass ${what} as a ParamMap`);
  }
  for (const [k, t] of Object.entries(map)) {
    if (!(t instanceof tf.Tensor)) throw invalid(WHERE, `${what}["${k}"]`, 'a tf.Tensor', t, 'pass tensors');
    if (t.isDisposed) {
      throw new NatgradError('DISPOSED', `${WHERE}: ${what}["${k}"] was disposed.`, {
        expected: 'a live tensor',
        received: 'a disposed tensor',
        fix: 'compute q before disposing the gradients and the step',
      });
    }
  }
  return Object.keys(map);
}

/**
 * q(delta) = g^T delta + 1/2 (delta^T F delta + lambda delta^T delta) as a tf.Scalar the caller
 * owns. F delta comes from curvature.multiply (undamped) for the parameters of its blocks; other
 * parameters have no curvature estimate and contribute g^T delta + 1/2 lambda |delta|^2 only.
 * `g` and `delta` must cover the same parameters with the same shapes. The trainer passes the
 * actual parameter change, i.e. delta = -learningRate * direction.
 */
export function quadraticModelChange(g: ParamMap, delta: ParamMap, curvature: CurvatureView, damping: number): tf.Scalar {
  const names = checkMap('g', g);
  const deltaNames = checkMap('delta', delta);
  const missing = names.filter((n) => !(n in delta));
  const extra = deltaNames.filter((n) => !(n in g));
  if (missing.length > 0 || extra.length > 0 || names.length === 0) {
    throw new NatgradError('SHAPE_MISMATCH', `${WHERE}: g and delta cover different parameters.`, {
      expected: 'the same non-empty set of parameters in g and delta',
      received: `delta missing [${missing.join(', ')}], extra [${extra.join(', ')}]`,
      fix: 'pass the gradient and the step of the same variables',
    });
  }
  for (const n of names) {
    if (!tf.util.arraysEqual(g[n].shape, delta[n].shape)) {
      throw new NatgradError('SHAPE_MISMATCH', `${WHERE}: shapes of "${n}" differ.`, {
        expected: `delta shape [${g[n].shape.join(',')}]`,
        received: `[${delta[n].shape.join(',')}]`,
        fix: 'pass the gradient and the step of the same variables',
      });
    }
  }
  if (typeof damping !== 'number' || !Number.isFinite(damping) || damping < 0) {
    throw invalid(WHERE, 'damping', 'a finite number >= 0', damping, 'pass the lambda the step was computed with');
  }
  if (curvature === null || typeof curvature !== 'object' || !Array.isArray(curvature.blocks) || typeof curvature.multiply !== 'function') {
    throw invalid(WHERE, 'curvature', 'a CurvatureView (blocks, multiply)', curvature, 'pass the curvature estimator');
  }
  const inBlocks: string[] = [];
  for (const b of curvature.blocks) {
    const params: readonly string[] = b.params;
    const have = params.filter((p) => p in delta);
    if (have.length > 0 && have.length !== params.length) {
      throw new NatgradError('SHAPE_MISMATCH', `${WHERE}: delta covers only part of block "${b.name}".`, {
        expected: `all of [${params.join(', ')}]`,
        received: `[${have.join(', ')}]`,
        fix: 'pass the step of every parameter of a registered layer',
      });
    }
    inBlocks.push(...have);
  }
  return tf.tidy(() => {
    const terms: tf.Tensor[] = names.map((n) => tf.sum(tf.mul(g[n], delta[n])));
    const curv: tf.Tensor[] = names.map((n) => tf.mul(tf.sum(tf.square(delta[n])), damping));
    if (inBlocks.length > 0) {
      const sub: ParamMap = {};
      for (const p of inBlocks) sub[p] = delta[p];
      const fDelta = curvature.multiply(sub);
      for (const p of inBlocks) {
        const fd = fDelta?.[p];
        if (!(fd instanceof tf.Tensor) || !tf.util.arraysEqual(fd.shape, delta[p].shape)) {
          throw new NatgradError('SHAPE_MISMATCH', `${WHERE}: curvature multiply() returned no valid result for "${p}".`, {
            expected: `a tensor of shape [${delta[p].shape.join(',')}]`,
            received: describeValue(fd),
            fix: 'the curvature estimator must return multiply() results for every parameter of its blocks',
          });
        }
        curv.push(tf.sum(tf.mul(delta[p], fd)));
      }
    }
    // sumTensors, not tf.addN: one term per parameter tensor, and WebGPU binds at most 7 addN inputs.
    return tf.add(sumTensors(terms), tf.mul(sumTensors(curv), 0.5)) as tf.Scalar;
  });
}

function checkNumber(where: string, what: string, v: unknown): number {
  if (typeof v === 'number') return v;
  const fix =
    v instanceof tf.Tensor
      ? `read the tensors first (one packed \`await t.data()\`), or call \`await readReductionRatio(...)\`, which does`
      : `pass ${what} as a number`;
  throw invalid(where, what, 'a number', v, fix);
}

/**
 * rho = (lossAfter - lossBefore) / q, from numbers (no device read: a trainer reads the two losses
 * and q in one transfer and passes the values). Guards (tolerance = 1e-12 * max(|lossBefore|, |lossAfter|)):
 * - any input non-finite: NaN (levenbergMarquardt treats NaN as a failed step and raises lambda);
 * - q and the actual change both within tolerance: 1 (the model predicted "nothing" and nothing
 *   happened; this lowers lambda, so the steps grow instead of freezing);
 * - q >= -tolerance otherwise (the model predicts no decrease): +Infinity if the loss went down
 *   (the model was too pessimistic: lower lambda), -Infinity if it did not (raise lambda).
 */
export function reductionRatio(lossBefore: number, lossAfter: number, q: number): number {
  const where = 'reductionRatio()';
  const before = checkNumber(where, 'lossBefore', lossBefore);
  const after = checkNumber(where, 'lossAfter', lossAfter);
  const model = checkNumber(where, 'q', q);
  if (!Number.isFinite(before) || !Number.isFinite(after) || !Number.isFinite(model)) return Number.NaN;
  const change = after - before;
  const tol = 1e-12 * Math.max(Math.abs(before), Math.abs(after));
  if (Math.abs(model) <= tol && Math.abs(change) <= tol) return 1;
  if (model >= -tol) return change < 0 ? Number.POSITIVE_INFINITY : Number.NEGATIVE_INFINITY;
  return change / model;
}

/**
 * reductionRatio for inputs that may be tensors (one-element, e.g. the q of quadraticModelChange):
 * every tensor input is read in ONE awaited transfer (stacked on the device), the numbers pass
 * through. Tensors stay owned by the caller.
 */
export async function readReductionRatio(lossBefore: number | tf.Tensor, lossAfter: number | tf.Tensor, q: number | tf.Tensor): Promise<number> {
  const where = 'readReductionRatio()';
  const inputs = { lossBefore, lossAfter, q };
  const tensors: tf.Tensor[] = [];
  for (const [what, v] of Object.entries(inputs)) {
    if (typeof v === 'number') continue;
    if (!(v instanceof tf.Tensor) || v.size !== 1 || v.isDisposed) {
      throw invalid(where, what, 'a number or a live one-element tensor', v, `pass ${what} as a number or tf.Scalar`);
    }
    tensors.push(v);
  }
  let values: number[] = [];
  if (tensors.length > 0) {
    const packed = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(tf.cast(t, 'float32'), [1]))));
    try {
      values = Array.from(await packed.data());
    } finally {
      packed.dispose();
    }
  }
  const value = (v: number | tf.Tensor): number => (typeof v === 'number' ? v : (values.shift() as number));
  return reductionRatio(value(lossBefore), value(lossAfter), value(q));
}
