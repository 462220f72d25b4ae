/**
 * Levenberg-Marquardt damping adaptation in distributed training (damping-adaptation.ts is the
 * single-process rule): rho = (L(theta + delta) - L(theta)) / q(delta) must be the same number on
 * every rank, or the ranks' damping schedules would drift apart. Both losses are the means over
 * the ranks' shards (equal shards: the whole batch's mean loss), and q(delta), a sum over
 * parameters, is split so each term is counted once: each owner adds its layers (with F delta from
 * its own factors), rank 0 adds the parameters outside every curvature layer; one all-reduce of
 * three scalars gives every rank the same rho.
 */
import * as tf from '../tf';
import type { CurvatureView, ParamMap } from '@natgrad/core';
import { quadraticModelChange, reductionRatio } from '@natgrad/damping';
import type { AdaptationParts } from '../damping-adaptation';
import { disposeMap } from '../step';
import type { PhaseTimer } from '../timings';
import type { ReplicaGroup } from './replica-group';

/** A view with no blocks (a rank that owns no curvature layer). */
const NO_CURVATURE: CurvatureView = { blocks: [], precondition: () => ({}), multiply: () => ({}) };

/** The parameters whose q(delta) terms this rank adds. */
function ownTerms(group: ReplicaGroup): string[] {
  const inLayers = new Set(group.layers.flatMap((l) => (l.bias === null ? [l.kernel] : [l.kernel, l.bias])));
  const owned = group.owned.flatMap((i) => {
    const l = group.layers[i];
    return l.bias === null ? [l.kernel] : [l.kernel, l.bias];
  });
  return group.rank === 0 ? [...owned, ...group.paramNames.filter((n) => !inLayers.has(n))] : owned;
}

function pick(map: ParamMap, names: readonly string[]): ParamMap {
  return Object.fromEntries(names.map((n) => [n, map[n]]));
}

export async function applyWithAdaptationDistributed(
  parts: Omit<AdaptationParts, 'curvature'> & { owner: CurvatureView | null; group: ReplicaGroup },
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
  const inferenceLoss = () => tf.tidy(() => parts.loss.compute(y, parts.capture.predict(x, { training: false })));
  try {
    const lossBefore = timer.time('adapt', () => {
      for (const name of Object.keys(directions)) snapshot[name] = tf.clone(vars[name]);
      return inferenceLoss();
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
        const lossAfter = inferenceLoss();
        const names = ownTerms(parts.group);
        const q = names.length === 0 ? tf.scalar(0) : quadraticModelChange(pick(meanGrads, names), pick(delta, names), parts.owner ?? NO_CURVATURE, damping);
        const stacked = tf.stack([lossBefore, lossAfter, q]);
        tf.dispose([lossAfter, q]);
        return stacked;
      } finally {
        disposeMap(delta);
      }
    });
    owned.push(packed);
    const local = await timer.timeAsync('adapt', () => packed.data());
    const [before, after, q] = await timer.timeAsync('communication', () => parts.group.world.allreduceScalars(Array.from(local)));
    const n = parts.group.size;
    parts.damping.observe!({ step, reductionRatio: reductionRatio(before / n, after / n, q) });
  } finally {
    disposeMap(snapshot);
    tf.dispose(owned);
  }
}
