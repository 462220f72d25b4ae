/**
 * One distributed step up to its scalars (arXiv 2508.13898, Algorithm 1; the data flow is in
 * docs/algorithms/distributed-fop.md): each rank runs forward/backward on its own shard; on
 * statistics steps every rank computes its shard's KFAC factors of every layer and one
 * reduce-scatter leaves each layer's owner the whole batch's factors, which only the owner folds
 * into its EMA and inverts; the gradients are reduced (FOP: one all-reduce per parity group and an
 * exchange with the partner rank, so every rank holds g1 and g2; otherwise one all-reduce); each
 * owner computes its layers' directions with the unchanged projection code; one allgatherv shares
 * them; the loss, accuracy and finiteness are all-reduced. Every decision that changes which
 * collectives follow (skip, statistics and inverse cadence, KL clip) is taken from replicated or
 * all-reduced values, so every rank runs the same sequence of collectives and takes the identical
 * step. Mirrors Trainer.computeStep, which stays the single-process path.
 */
import * as tf from '../tf';
import { type CurvatureEstimator, type LossFunction, type ParamMap, type ProjectionStrategy, sumTensors } from '@natgrad/core';
import { batchFactors } from '@natgrad/curvature';
import type { ModelCapture } from '../capture/index';
import { globalNorm } from '../clipping';
import { type CurvatureCadence, statisticsInputsFinite } from '../curvature-cadence';
import { NON_FINITE_SCALARS, readStepScalars } from '../non-finite-guard';
import { projectGradients } from '../projection-phase';
import { type StepInputs, type StepOutcome, allFinite, disposeMap } from '../step';
import type { StepTensors } from '../step-tensors';
import { correctInBatch, forwardBackward, meanLoss } from '../sub-batches';
import type { PhaseTimer } from '../timings';
import type { ReplicaGroup } from './replica-group';

export interface DistributedParts {
  capture: ModelCapture;
  loss: LossFunction;
  /** The user's estimator, initialised with the layers this rank owns (or not at all when it owns none). */
  curvature: CurvatureEstimator | null;
  projection: ProjectionStrategy;
  clipNorm: number | null;
  accuracy: boolean;
  cadence: CurvatureCadence;
  group: ReplicaGroup;
  /** KFAC's klClip, applied across all ranks' layers (null: off). */
  klClip: number | null;
}

/**
 * This rank's sampled-Fisher seed: sub-batch r's seed for the first k ranks (N = k matches one
 * process), mixed for the others, reduced into the sampler's range [0, 2^31 - 2].
 */
export function rankSeed(seeds: readonly number[], rank: number): number {
  const k = seeds.length;
  if (rank < k) return seeds[rank];
  return ((Math.imul(seeds[rank % k] ^ 0x9e3779b9, rank + 1) + rank) >>> 0) % 2147483647;
}

export async function computeDistributedStep(p: DistributedParts, t: StepTensors, timer: PhaseTimer, s: StepInputs, localBatch: number): Promise<StepOutcome> {
  const { group, curvature } = p;
  const owner = curvature !== null && group.owned.length > 0 ? curvature : null;
  const doStatistics = curvature !== null && p.cadence.statisticsDue(s.stepIndex);
  const outcome: StepOutcome = { skipped: false, statisticsUpdated: false, inversesRefreshed: false, diagnostics: {}, scalars: NON_FINITE_SCALARS, clippedNorm: null };
  timer.time('forwardBackward', () =>
    forwardBackward(p.capture, p.loss, t, {
      capture: doStatistics && curvature.requires.captures,
      fisher: curvature?.requires.fisher ?? 'empirical',
      seeds: [rankSeed(s.seeds, group.rank)],
    }),
  );
  const loss = t.own(meanLoss(t));
  const correct = t.own(p.accuracy ? correctInBatch(t) : tf.scalar(0));

  if (doStatistics) {
    const finite = await timer.timeAsync('statistics', () => statisticsInputsFinite(loss, t, localBatch));
    const [bad] = await timer.timeAsync('communication', () => group.world.allreduceScalars([finite ? 0 : 1]));
    if (bad > 0) outcome.skipped = true;
    else {
      const factors = timer.time('statistics', () => p.capture.layers.map((layer) => batchFactors(layer, t.captures[0][layer.name], localBatch)));
      let mine: { a: tf.Tensor2D; g: tf.Tensor2D }[];
      try {
        mine = await timer.timeAsync('communication', () => group.reduceStatistics(factors));
      } finally {
        for (const f of factors) tf.dispose([f.a, f.g]);
      }
      try {
        // biome-ignore lint/suspicious/noExplicitAny: foldFactors is KFAC's (the trainer checked the estimator is a KfacEstimator)
        if (owner !== null) timer.time('statistics', () => (owner as any).foldFactors(mine));
      } finally {
        for (const f of mine) tf.dispose([f.a, f.g]);
      }
      p.cadence.statisticsUpdates++;
      outcome.statisticsUpdated = true;
    }
  }
  if (!outcome.skipped && curvature !== null && p.cadence.inversesDue(s.stepIndex)) {
    if (owner !== null) await timer.timeAsync('inverses', () => owner.refreshInverses(s.damping!));
    p.cadence.inverseRefreshes++;
    outcome.inversesRefreshed = true;
  }
  if (!outcome.skipped) {
    const flats = await timer.timeAsync('communication', () => group.reduceGradients(t.grads[0], p.projection.subBatches));
    for (const g of t.grads) disposeMap(g);
    t.grads = flats.map((f) => group.toParamMap(f));
    const projected = await timer.timeAsync('projection', () => projectGradients(t, p.projection, owner, p.clipNorm));
    outcome.clippedNorm = projected.clippedNorm;
    if (p.klClip !== null) {
      const nu = await klClipFactor(p, t, s.learningRate, timer);
      if (nu === null) {
        // Non-finite <d, g> on some rank: every rank got the same sum, so every rank skips here.
        outcome.skipped = true;
        return outcome;
      }
      if (nu < 1) scaleOwned(group, t.directions!, nu);
    }
    outcome.diagnostics = await timer.timeAsync('communication', () => group.gatherDirections(t.directions!, projected.diagnostics));
  }
  const gradNorm = outcome.clippedNorm ?? t.own(t.meanGrads !== null ? globalNorm(t.meanGrads) : tf.scalar(Number.NaN));
  const finite = t.own(allFinite(t.directions === null ? [loss] : [loss, ...Object.values(t.directions)]));
  const local = await readStepScalars(loss, finite, gradNorm, correct);
  const [lossSum, nonFinite, correctSum] = await timer.timeAsync('communication', () =>
    group.world.allreduceScalars([local.loss, local.finite ? 0 : 1, local.correct]),
  );
  // Equal shards: the whole batch's mean loss is the mean of the ranks' mean losses.
  outcome.scalars = { loss: lossSum / group.size, finite: nonFinite === 0, gradNorm: local.gradNorm, correct: correctSum };
  if (!outcome.scalars.finite) outcome.skipped = true;
  return outcome;
}

/** The parameters of the curvature layers this rank owns. */
function ownedParams(group: ReplicaGroup): string[] {
  return group.owned.flatMap((i) => {
    const l = group.layers[i];
    return l.bias === null ? [l.kernel] : [l.kernel, l.bias];
  });
}

/**
 * KFAC's KL clip (kl-clip.ts: vg = lr^2 sum_l <d_l, g_l>, nu = min(1, sqrt(klClip / |vg|))) over
 * every rank's layers: each owner sums its layers, one scalar all-reduce gives vg. Null when vg is
 * not finite (the single-process path skips the step then, and so does every rank here).
 */
async function klClipFactor(p: DistributedParts, t: StepTensors, learningRate: number, timer: PhaseTimer): Promise<number | null> {
  const names = ownedParams(p.group);
  const d = t.directions!;
  const g = t.meanGrads!;
  let partial = 0;
  if (names.length > 0) {
    const v = tf.tidy(() => sumTensors(names.map((n) => tf.sum(tf.mul(d[n], g[n])))));
    try {
      partial = (await v.data())[0];
    } finally {
      v.dispose();
    }
  }
  const [sum] = await timer.timeAsync('communication', () => p.group.world.allreduceScalars([partial]));
  const vg = sum * learningRate * learningRate;
  if (!Number.isFinite(vg)) return null;
  return vg === 0 ? 1 : Math.min(1, Math.sqrt(p.klClip! / Math.abs(vg)));
}

/** Scales this rank's owned directions in place (before they are shared). */
function scaleOwned(group: ReplicaGroup, directions: ParamMap, nu: number): void {
  for (const n of ownedParams(group)) {
    const old = directions[n];
    directions[n] = tf.mul(old, nu);
    old.dispose();
  }
}
