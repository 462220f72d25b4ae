/**
 * What one optimisation step reports, and the pure helpers its phases share: splitting a batch
 * into the projection's sub-batches, merging the sub-batches' layer captures into one whole-batch
 * CurvatureBatch, the on-device finiteness flag, and the accuracy count. Kept out of trainer.ts so
 * the step's phases there read as the data flow of docs/architecture.md.
 */
import * as tf from './tf';
import { type LayerCapture, type ParamMap, type ProjectionDiagnostics, sumTensors } from '@natgrad/core';
import type { StepScalars } from './non-finite-guard';
import type { PhaseTimings } from './timings';

export interface StepResult {
  /** Index of this step (0 for the first). */
  step: number;
  /** Mean training loss of the batch before the update (NaN/Infinity when the step was skipped for it). */
  loss: number;
  /** Correctly classified examples of the batch (only with metrics: ['accuracy']). */
  correct?: number;
  batchSize: number;
  /** True when a non-finite loss, gradient or update skipped the step (weights untouched). */
  skipped: boolean;
  /** True when the skip raised the damping (DampingSchedule.onNonFiniteStep; curvature trainers only). */
  dampingBoosted: boolean;
  learningRate: number;
  /** The damping this step used (null without curvature); after a boost the next step's is higher. */
  damping: number | null;
  /** Global norm of the mean gradient before clipping. */
  gradNorm: number;
  statisticsUpdated: boolean;
  inversesRefreshed: boolean;
  diagnostics: Record<string, ProjectionDiagnostics>;
  timings: PhaseTimings;
}

/** What a step knows before its phases run. */
export interface StepInputs {
  stepIndex: number;
  batchSize: number;
  damping: number | null;
  learningRate: number;
  seeds: number[];
}

/** What the phases before the update decided, and the step's one host read. */
export interface StepOutcome {
  skipped: boolean;
  statisticsUpdated: boolean;
  inversesRefreshed: boolean;
  diagnostics: Record<string, ProjectionDiagnostics>;
  scalars: StepScalars;
  /** The mean gradient's norm before clipping, when clipping ran (owned by the step's tensors). */
  clippedNorm: tf.Scalar | null;
}

/** k equal, disjoint, contiguous sub-batches (the caller has checked divisibility). */
export function splitBatch(t: tf.Tensor, k: number): tf.Tensor[] {
  return k === 1 ? [t] : tf.split(t, k, 0);
}

/**
 * Concatenates the sub-batches' captures along the batch axis. LayerCapture.outputGrad is the
 * gradient of a sub-batch's MEAN loss; the whole batch's mean loss is the mean of the k sub-batch
 * losses, so its output gradients are the sub-batch ones divided by k. With that scaling the merged
 * capture satisfies the contract "per-example gradient = batchSize * outputGrad[n]" for the whole
 * batch, and the estimator's EMA sees ONE batch per step (core/src/capture.ts).
 */
export function mergeCaptures(parts: readonly Record<string, LayerCapture>[]): Record<string, LayerCapture> {
  const k = parts.length;
  const meanConcat = (ts: tf.Tensor[], axis: number) => tf.tidy(() => tf.div(tf.concat(ts, axis), tf.scalar(k)));
  const out: Record<string, LayerCapture> = {};
  for (const name of Object.keys(parts[0])) {
    const cs = parts.map((p) => p[name]);
    out[name] = {
      input: tf.concat(cs.map((c) => c.input), 0),
      outputGrad: meanConcat(cs.map((c) => c.outputGrad), 0),
    };
    // The optional Dense transposes are [features, rows]: the batch axis is 1. Concatenating them
    // is a copy, still far cheaper than the estimator transposing the merged rows again.
    if (cs.every((c) => c.inputTransposed)) {
      out[name].inputTransposed = tf.concat(cs.map((c) => c.inputTransposed as tf.Tensor), 1);
    }
    if (cs.every((c) => c.outputGradTransposed)) {
      out[name].outputGradTransposed = meanConcat(cs.map((c) => c.outputGradTransposed as tf.Tensor), 1);
    }
  }
  return out;
}

/** Elementwise mean of k maps with the same keys (new tensors, caller owns them). */
export function meanMaps(maps: readonly ParamMap[]): ParamMap {
  return tf.tidy(() => {
    const out: ParamMap = {};
    for (const name of Object.keys(maps[0])) out[name] = tf.div(sumTensors(maps.map((m) => m[name])), tf.scalar(maps.length));
    return out;
  });
}

/** 1 when every element of every tensor is finite, else 0 (a float32 device scalar). */
export function allFinite(tensors: readonly tf.Tensor[]): tf.Scalar {
  return tf.tidy(() => {
    if (tensors.length === 0) return tf.scalar(1);
    const flags = tensors.map((t) => (t.size === 0 ? tf.scalar(true, 'bool') : tf.all(tf.isFinite(t))));
    return tf.cast(tf.all(tf.stack(flags)), 'float32') as tf.Scalar;
  });
}

/**
 * Number of correctly classified examples (device scalar): argmax agreement for multi-class
 * outputs, threshold 0.5 for single-unit outputs, and equality of the class index when the targets
 * are sparse integer labels (one column fewer than the predictions).
 */
export function correctCount(targets: tf.Tensor, predictions: tf.Tensor): tf.Scalar {
  return tf.tidy(() => {
    const classes = predictions.shape[predictions.shape.length - 1];
    if (predictions.rank >= 2 && classes > 1) {
      const predicted = tf.argMax(predictions, -1);
      const sparse = targets.rank < predictions.rank || targets.shape[targets.rank - 1] === 1;
      const actual = sparse ? tf.cast(tf.reshape(targets, predicted.shape), 'int32') : tf.argMax(targets, -1);
      return tf.sum(tf.cast(tf.equal(predicted, actual), 'float32')) as tf.Scalar;
    }
    const p = tf.greater(tf.reshape(predictions, [-1]), tf.scalar(0.5));
    const t = tf.greater(tf.reshape(targets, [-1]), tf.scalar(0.5));
    return tf.sum(tf.cast(tf.equal(p, t), 'float32')) as tf.Scalar;
  });
}

export function disposeMap(map: ParamMap | Record<string, LayerCapture> | null | undefined): void {
  if (map == null) return;
  for (const v of Object.values(map)) {
    if (v instanceof tf.Tensor) v.dispose();
    else {
      v.input.dispose();
      v.outputGrad.dispose();
      v.inputTransposed?.dispose();
      v.outputGradTransposed?.dispose();
    }
  }
}
