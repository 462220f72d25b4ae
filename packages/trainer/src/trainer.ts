/**
 * The Trainer: an ordinary tf.LayersModel trained by a composition of small objects
 * {curvature, damping, projection, updateRule, learningRate} that it knows only through the
 * @natgrad/core contracts (docs/architecture.md). One step follows the FOP data flow of
 * arXiv 2508.13898 (fop-spec.md, "One step"): split the batch into the projection's sub-batches,
 * forward/backward each (capturing layer inputs and output gradients on statistics steps), fold the
 * whole batch into the curvature statistics and refresh the inverses on their cadences, combine
 * and precondition, guard against non-finite values, apply the update rule, and adapt the damping.
 * fit()/fitDataset()/evaluate() follow tfjs-layers (epochs, callbacks with logs, validation), and
 * save()/load() write and restore everything a bit-identical resume needs.
 */
import * as tf from '@tensorflow/tfjs';
import {
  type CurvatureEstimator,
  type CurvatureView,
  type DampingSchedule,
  type JsonValue,
  type LayerCapture,
  type LossFunction,
  NatgradError,
  type ParamMap,
  type ProjectionDiagnostics,
  type ProjectionStrategy,
  type Schedule,
  type ScheduleFn,
  type StateDict,
  type UpdateRule,
  describeValue,
  resolveSchedule,
} from '@natgrad/core';
import { quadraticModelChange, reductionRatio } from '@natgrad/damping';
import { identity } from '@natgrad/projection';
import { type CaptureOptions, type ModelCapture, captureModel } from './capture/index';
import { CHECKPOINT_VERSION, decodeCheckpoint, encodeCheckpoint } from './checkpoint-format';
import { NameCanonicalizer, type StoredState, loadState, readFileBytes, storeState, writeFileAtomic } from './checkpoint';
import { clipByMeanNorm, globalNorm, validateMaxNorm } from './clipping';
import { type Batch, checkXY, disposeElement, elementXY, tensorBatches, trimBatch } from './dataset';
import { type LossName, resolveLoss } from './losses/index';
import type { ReduceLROnPlateau } from './lr-schedules';
import { Rng } from './rng';
import { allFinite, correctCount, disposeMap, meanMaps, mergeCaptures, splitBatch } from './step';
import { type PhaseTimer as PhaseTimerType, PhaseTimer, type PhaseTimings, accumulate, emptyTimings } from './timings';

/** Everything but the model and the loss: what a preset returns. */
export interface Composition {
  /** Curvature estimator; null or absent trains with plain (projected) gradients. */
  curvature?: CurvatureEstimator | null;
  /** Sub-batch combination (default identity(): one batch, no projection). */
  projection?: ProjectionStrategy;
  /** Damping schedule; required with a curvature estimator. */
  damping?: DampingSchedule | null;
  updateRule: UpdateRule;
  learningRate: Schedule;
  /** Optional plateau multiplier driven by fit()'s epoch logs. */
  plateau?: ReduceLROnPlateau | null;
  /** Curvature statistics every n steps (default 1). */
  statisticsEvery?: number;
  /** Inverse refresh every n steps (default 10). */
  inverseEvery?: number;
  /** Clip the mean gradient's global norm to this value (default: no clipping). */
  clipNorm?: number | null;
}

export interface TrainerConfig extends Composition {
  model: tf.LayersModel;
  /** A LossFunction or a tfjs-style name such as 'categoricalCrossentropy'. */
  loss: LossFunction | LossName | string;
  /** Seed of the trainer's RNG (shuffling, sampled-Fisher labels); default 0. */
  seed?: number;
  /** Adds `acc` to the logs (classification). */
  metrics?: readonly 'accuracy'[];
  /** Options of the layer capture. */
  capture?: CaptureOptions;
}

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
  learningRate: number;
  damping: number | null;
  /** Global norm of the mean gradient before clipping. */
  gradNorm: number;
  statisticsUpdated: boolean;
  inversesRefreshed: boolean;
  diagnostics: Record<string, ProjectionDiagnostics>;
  timings: PhaseTimings;
}

export type Logs = Record<string, number>;

export interface TrainerCallbacks {
  onTrainBegin?(logs?: Logs): void | Promise<void>;
  onTrainEnd?(logs?: Logs): void | Promise<void>;
  onEpochBegin?(epoch: number, logs?: Logs): void | Promise<void>;
  onEpochEnd?(epoch: number, logs?: Logs): void | Promise<void>;
  onBatchBegin?(batch: number, logs?: Logs): void | Promise<void>;
  onBatchEnd?(batch: number, logs?: Logs): void | Promise<void>;
}

export interface FitOptions {
  /**
   * Total epochs, counted by the trainer (tfjs' `epochs` with `initialEpoch` = trainer.epoch): a
   * fresh trainer runs `epochs` epochs, one restored from a checkpoint continues up to the same total.
   */
  epochs?: number;
  batchSize?: number;
  /** Seeded shuffling of tensor inputs each epoch (default true). */
  shuffle?: boolean;
  validationData?: [tf.Tensor, tf.Tensor] | { x: tf.Tensor; y: tf.Tensor };
  callbacks?: TrainerCallbacks | TrainerCallbacks[];
}

export interface FitDatasetOptions {
  /** Total epochs, counted by the trainer, as in FitOptions. */
  epochs?: number;
  validationData?: [tf.Tensor, tf.Tensor] | { x: tf.Tensor; y: tf.Tensor } | tf.data.Dataset<tf.TensorContainer>;
  callbacks?: TrainerCallbacks | TrainerCallbacks[];
}

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

/** A view with no blocks: every parameter gets the (projected) mean gradient. */
const NO_CURVATURE: CurvatureView = { blocks: [], precondition: () => ({}), multiply: () => ({}) };

function positiveInteger(value: unknown, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
      expected: 'an integer >= 1',
      received: describeValue(value),
      fix: `pass ${what} such as 1 or 10`,
    });
  }
  return value;
}

function mismatch(summary: string, expected: string, received: string): NatgradError {
  return new NatgradError('CHECKPOINT_MISMATCH', summary, {
    expected,
    received,
    fix: 'load the checkpoint into a trainer built with the same model architecture and the same composition',
  });
}

export class Trainer {
  readonly model: tf.LayersModel;
  readonly loss: LossFunction;
  readonly curvature: CurvatureEstimator | null;
  readonly projection: ProjectionStrategy;
  readonly damping: DampingSchedule | null;
  readonly updateRule: UpdateRule;
  readonly plateau: ReduceLROnPlateau | null;
  readonly statisticsEvery: number;
  readonly inverseEvery: number;
  readonly clipNorm: number | null;
  readonly capture: ModelCapture;
  /** Set to true from a callback to end fit() after the current batch. */
  stopTraining = false;

  private readonly learningRate: ScheduleFn;
  private readonly metrics: readonly 'accuracy'[];
  private readonly rng: Rng;
  private _step = 0;
  private _epoch = 0;
  private _skippedSteps = 0;
  private statisticsUpdates = 0;
  private inverseRefreshes = 0;
  private disposed = false;
  private readonly _totalTimings: PhaseTimings = emptyTimings();
  private _lastTimings: PhaseTimings = emptyTimings();

  constructor(config: TrainerConfig) {
    if (config === null || typeof config !== 'object' || !(config.model instanceof tf.LayersModel)) {
      throw new NatgradError('INVALID_ARGUMENT', 'Trainer needs a tf.LayersModel.', {
        expected: '{ model: tf.LayersModel, loss, updateRule, learningRate, ... }',
        received: describeValue(config?.model),
        fix: 'build the model with tf.sequential() or tf.model() and pass it as `model`',
      });
    }
    if (config.updateRule == null || typeof config.updateRule.apply !== 'function') {
      throw new NatgradError('INVALID_ARGUMENT', 'Trainer needs an update rule.', {
        expected: 'an UpdateRule such as sgdRule() or adamwRule(), or a preset: new Trainer({ model, loss, ...fop() })',
        received: describeValue(config.updateRule),
        fix: 'spread a preset (sgd(), adamw(), kfac(), fop(), ...) into the config',
      });
    }
    this.curvature = config.curvature ?? null;
    this.damping = config.damping ?? null;
    if (this.curvature !== null && this.damping === null) {
      throw new NatgradError('INVALID_ARGUMENT', 'A curvature estimator needs a damping schedule.', {
        expected: 'damping: a DampingSchedule (e.g. constantDamping(1e-3)) alongside curvature',
        received: 'no damping',
        fix: 'pass damping, or use a preset such as kfac() that sets it',
      });
    }
    this.model = config.model;
    this.projection = config.projection ?? identity();
    positiveInteger(this.projection.subBatches, 'projection.subBatches');
    this.updateRule = config.updateRule;
    this.learningRate = resolveSchedule(config.learningRate, 'learning rate');
    this.plateau = config.plateau ?? null;
    this.statisticsEvery = positiveInteger(config.statisticsEvery ?? 1, 'statisticsEvery');
    this.inverseEvery = positiveInteger(config.inverseEvery ?? 10, 'inverseEvery');
    this.clipNorm = config.clipNorm == null ? null : validateMaxNorm(config.clipNorm);
    this.metrics = config.metrics ?? [];
    this.rng = new Rng(config.seed ?? 0);
    this.capture = captureModel(config.model, config.capture);
    this.loss = resolveLoss(config.loss, { outputActivation: this.capture.outputActivation });
    if (this.curvature !== null && this.curvature.requires.fisher === 'sampled' && typeof this.loss.sampleTargets !== 'function') {
      throw new NatgradError('UNSUPPORTED_LOSS', `The ${this.loss.name} loss cannot sample targets for the true Fisher.`, {
        expected: 'a loss with sampleTargets(), or a curvature estimator using the empirical Fisher',
        received: `loss "${this.loss.name}" with curvature "${this.curvature.name}" (fisher: 'sampled')`,
        fix: "pass fisher: 'empirical' to the curvature estimator, or use a built-in loss name",
      });
    }
    this.curvature?.init(this.capture.layers, this.capture.variables);
    this.updateRule.init(this.capture.variables);
  }

  /** Builds a trainer from a preset's composition: Trainer.fromPreset(model, 'categoricalCrossentropy', fop()). */
  static fromPreset(model: tf.LayersModel, loss: TrainerConfig['loss'], composition: Composition, extra: Partial<TrainerConfig> = {}): Trainer {
    return new Trainer({ ...composition, ...extra, model, loss });
  }

  /** Optimisation steps taken (including skipped ones: they consumed a batch). */
  get stepCount(): number {
    return this._step;
  }

  get epoch(): number {
    return this._epoch;
  }

  get skippedSteps(): number {
    return this._skippedSteps;
  }

  /** Phase timings (ms) of the last step and summed over all steps. */
  get timings(): { last: PhaseTimings; total: PhaseTimings } {
    return { last: { ...this._lastTimings }, total: { ...this._totalTimings } };
  }

  /** The learning rate the next step will use. */
  currentLearningRate(): number {
    const lr = this.learningRate(this._step) * (this.plateau?.scale ?? 1);
    if (!Number.isFinite(lr) || lr < 0) {
      throw new NatgradError('INVALID_ARGUMENT', 'The learning-rate schedule returned an invalid value.', {
        expected: 'a finite learning rate >= 0',
        received: `${describeValue(lr)} at step ${this._step}`,
        fix: 'check the schedule passed as learningRate',
      });
    }
    return lr;
  }

  /** Which layers carry curvature blocks and which were skipped (and why). */
  report(): string {
    return this.capture.report();
  }

  private assertAlive(what: string): void {
    if (this.disposed) {
      throw new NatgradError('DISPOSED', `Trainer.${what} called after dispose().`, {
        expected: 'a live trainer',
        received: 'a disposed trainer',
        fix: 'create a new Trainer',
      });
    }
  }

  /**
   * One optimisation step on the batch (x, y). Inputs stay owned by the caller; no tensor is
   * returned, and tf.memory().numTensors is unchanged afterwards.
   */
  step(x: tf.Tensor, y: tf.Tensor): StepResult {
    this.assertAlive('step');
    checkXY(x, y, 'Trainer.step');
    const k = this.projection.subBatches;
    const batchSize = x.shape[0];
    if (batchSize === 0 || batchSize % k !== 0) {
      throw new NatgradError('SHAPE_MISMATCH', 'The batch cannot be split into the projection sub-batches.', {
        expected: `a non-empty batch whose size is a multiple of ${k} (projection "${this.projection.name}")`,
        received: `batch size ${batchSize}`,
        fix: `use a batch size divisible by ${k}`,
      });
    }
    const stepIndex = this._step;
    const learningRate = this.currentLearningRate();
    const curvature = this.curvature;
    const damping = curvature === null ? null : this.damping!.value(stepIndex);
    const doStatistics = curvature !== null && (this.statisticsUpdates === 0 || stepIndex % this.statisticsEvery === 0);
    const wantCaptures = doStatistics && curvature.requires.captures;
    // Drawn every step, whatever the cadence, so the RNG stream depends only on the step count.
    const seeds = Array.from({ length: k }, () => this.rng.nextSeed());
    const timer = new PhaseTimer();

    // The training forward itself writes non-trainable weights (BatchNorm moving statistics);
    // keep copies so that a skipped step can leave every weight bit-identical.
    const frozen = this.model.nonTrainableWeights.map((w) => tf.clone(w.read()));
    const xs = splitBatch(x, k);
    const ys = splitBatch(y, k);
    const losses: tf.Scalar[] = [];
    let subGrads: ParamMap[] = [];
    const captures: Record<string, LayerCapture>[] = [];
    const outputs: tf.Tensor[] = [];
    const owned: tf.Tensor[] = [];
    let directions: ParamMap | null = null;
    let meanGrads: ParamMap | null = null;
    let diagnostics: Record<string, ProjectionDiagnostics> = {};
    let skipped = false;
    let statisticsUpdated = false;
    let inversesRefreshed = false;
    let values: Float32Array | Int32Array | Uint8Array;
    try {
      timer.time('forwardBackward', () => {
        for (let i = 0; i < k; i++) {
          const r = this.capture.computeGradients(xs[i], ys[i], this.loss, {
            capture: wantCaptures,
            fisher: curvature?.requires.fisher ?? 'empirical',
            seed: seeds[i],
          });
          losses.push(r.loss);
          subGrads.push(r.grads);
          outputs.push(r.outputs);
          if (r.captures !== null) captures.push(r.captures);
        }
      });
      const meanLoss = tf.tidy(() => tf.div(tf.addN(losses), tf.scalar(k)) as tf.Scalar);
      owned.push(meanLoss);
      const correct = this.metrics.includes('accuracy')
        ? tf.tidy(() => tf.addN(outputs.map((o, i) => correctCount(ys[i], o))) as tf.Scalar)
        : tf.scalar(0);
      owned.push(correct);

      if (doStatistics) {
        // First read: the statistics must never fold in a non-finite batch, or the curvature EMA
        // would be poisoned for every later step; so check before updateStatistics.
        const inputsOk = allFinite([meanLoss, ...subGrads.flatMap((g) => Object.values(g)), ...captures.flatMap((c) => Object.values(c).flatMap((lc) => [lc.input, lc.outputGrad]))]);
        const ok = inputsOk.dataSync()[0] === 1;
        inputsOk.dispose();
        if (ok) {
          timer.time('statistics', () => {
            // One sub-batch: its captures and gradients are the batch's, passed as they are (no
            // copies: clones are real copies on wasm, ~40 MB per step on a 784-512 MLP at batch 4096).
            const single = k === 1;
            const merged = captures.length === 0 ? {} : single ? captures[0] : mergeCaptures(captures);
            const grads = single ? subGrads[0] : meanMaps(subGrads);
            try {
              curvature.updateStatistics({ captures: merged, grads, batchSize });
            } finally {
              if (!single) {
                disposeMap(merged);
                disposeMap(grads);
              }
            }
          });
          this.statisticsUpdates++;
          statisticsUpdated = true;
        } else {
          skipped = true;
        }
      }
      if (!skipped && curvature !== null && (this.inverseRefreshes === 0 || stepIndex % this.inverseEvery === 0) && this.statisticsUpdates > 0) {
        timer.time('inverses', () => curvature.refreshInverses(damping!));
        this.inverseRefreshes++;
        inversesRefreshed = true;
      }

      let gradNorm: tf.Scalar;
      if (!skipped) {
        timer.time('projection', () => {
          if (this.clipNorm !== null) {
            const { clipped, norm } = clipByMeanNorm(subGrads, this.clipNorm);
            for (const g of subGrads) disposeMap(g);
            subGrads = clipped;
            owned.push(norm);
          }
          const result = this.projection.combine(subGrads, curvature ?? NO_CURVATURE);
          directions = result.directions;
          meanGrads = result.meanGrads;
          diagnostics = result.diagnostics;
          curvature?.scaleUpdate?.(directions, meanGrads, learningRate);
        });
      }
      if (this.clipNorm !== null && !skipped) {
        gradNorm = owned[owned.length - 1] as tf.Scalar;
      } else {
        gradNorm = meanGrads !== null ? globalNorm(meanGrads) : tf.scalar(Number.NaN);
        owned.push(gradNorm);
      }
      const finite = allFinite(directions === null ? [meanLoss] : [meanLoss, ...Object.values(directions as ParamMap)]);
      owned.push(finite);
      // The one read of every step: loss, finiteness, gradient norm, accuracy count.
      const packed = tf.stack([meanLoss, finite, gradNorm, correct]);
      values = packed.dataSync();
      packed.dispose();
      if (values[1] !== 1) skipped = true;
    } catch (err) {
      // Non-finite values met inside a component (e.g. KL clipping) count as a skipped step.
      if (!(err instanceof NatgradError && err.code === 'NON_FINITE_INPUT')) {
        this.cleanup(xs, ys, k, losses, subGrads, captures, outputs, owned, directions, meanGrads);
        tf.dispose(frozen);
        throw err;
      }
      skipped = true;
      values = new Float32Array([Number.NaN, 0, Number.NaN, 0]);
    }

    if (!skipped) {
      const adapt = curvature !== null && this.damping !== null && this.damping.adaptEvery !== undefined && typeof this.damping.observe === 'function' && (stepIndex + 1) % this.damping.adaptEvery === 0;
      if (adapt) {
        this.applyWithAdaptation(timer, x, y, directions!, meanGrads!, learningRate, damping!, stepIndex);
      } else {
        timer.time('update', () => this.updateRule.apply(directions!, learningRate));
      }
    } else {
      this.model.nonTrainableWeights.forEach((w, i) => {
        w.write(frozen[i]);
      });
      this._skippedSteps++;
      this.damping?.onNonFiniteStep(stepIndex);
    }
    tf.dispose(frozen);
    this.cleanup(xs, ys, k, losses, subGrads, captures, outputs, owned, directions, meanGrads);
    this._step++;
    const timings = timer.finish();
    this._lastTimings = timings;
    accumulate(this._totalTimings, timings);
    return {
      step: stepIndex,
      loss: values[0],
      ...(this.metrics.includes('accuracy') ? { correct: values[3] } : {}),
      batchSize,
      skipped,
      learningRate,
      damping,
      gradNorm: values[2],
      statisticsUpdated,
      inversesRefreshed,
      diagnostics,
      timings,
    };
  }

  private cleanup(
    xs: tf.Tensor[],
    ys: tf.Tensor[],
    k: number,
    losses: tf.Tensor[],
    subGrads: ParamMap[],
    captures: Record<string, LayerCapture>[],
    outputs: tf.Tensor[],
    owned: tf.Tensor[],
    directions: ParamMap | null,
    meanGrads: ParamMap | null,
  ): void {
    if (k > 1) tf.dispose([...xs, ...ys]);
    tf.dispose([...losses, ...outputs, ...owned]);
    for (const g of subGrads) disposeMap(g);
    for (const c of captures) disposeMap(c);
    disposeMap(directions);
    disposeMap(meanGrads);
  }

  /**
   * Levenberg-Marquardt observation (Martens 2010, sec. 4.1; kfac-jax's rule): the reduction ratio
   * rho = (L(theta + delta) - L(theta)) / q(delta), with both losses measured in inference mode on
   * the same batch (so dropout and batch statistics do not add noise to rho) and q the quadratic
   * model of the damped curvature around theta.
   */
  private applyWithAdaptation(
    timer: PhaseTimerType,
    x: tf.Tensor,
    y: tf.Tensor,
    directions: ParamMap,
    meanGrads: ParamMap,
    learningRate: number,
    damping: number,
    stepIndex: number,
  ): void {
    const vars = this.capture.variables;
    const before = timer.time('adapt', () => {
      const snapshot: ParamMap = {};
      for (const name of Object.keys(directions)) snapshot[name] = tf.clone(vars[name]);
      return { snapshot, loss: this.inferenceLoss(x, y) };
    });
    timer.time('update', () => this.updateRule.apply(directions, learningRate));
    timer.time('adapt', () => {
      const delta: ParamMap = tf.tidy(() => {
        const d: ParamMap = {};
        for (const [name, old] of Object.entries(before.snapshot)) d[name] = tf.sub(vars[name], old);
        return d;
      });
      const after = this.inferenceLoss(x, y);
      const q = quadraticModelChange(meanGrads, delta, this.curvature!, damping);
      disposeMap(delta);
      disposeMap(before.snapshot);
      // NaN (non-finite inputs) is passed on: the schedule treats it as a failed step.
      const rho = reductionRatio(before.loss, after, q);
      q.dispose();
      this.damping!.observe!({ step: stepIndex, reductionRatio: rho });
    });
  }

  private inferenceLoss(x: tf.Tensor, y: tf.Tensor): number {
    const t = tf.tidy(() => this.loss.compute(y, this.capture.predict(x, { training: false })));
    const v = t.dataSync()[0];
    t.dispose();
    return v;
  }

  /** Mean loss (and accuracy with metrics: ['accuracy']) over (x, y) in inference mode. */
  evaluate(x: tf.Tensor, y: tf.Tensor, options: { batchSize?: number } = {}): Logs {
    this.assertAlive('evaluate');
    checkXY(x, y, 'Trainer.evaluate');
    const batchSize = positiveInteger(options.batchSize ?? 256, 'batchSize');
    const n = x.shape[0];
    if (n === 0) {
      throw new NatgradError('DATASET_INVALID', 'Trainer.evaluate got no examples.', {
        expected: 'at least one example',
        received: 'x with batch dimension 0',
        fix: 'pass a non-empty evaluation set',
      });
    }
    const totals = tf.tidy(() => {
      let lossSum: tf.Tensor = tf.scalar(0);
      let correct: tf.Tensor = tf.scalar(0);
      for (let start = 0; start < n; start += batchSize) {
        const size = Math.min(batchSize, n - start);
        const xb = tf.slice(x, start, size);
        const yb = tf.slice(y, start, size);
        const pred = this.capture.predict(xb, { training: false });
        lossSum = tf.add(lossSum, tf.mul(this.loss.compute(yb, pred), tf.scalar(size)));
        if (this.metrics.includes('accuracy')) correct = tf.add(correct, correctCount(yb, pred));
      }
      return tf.stack([lossSum, correct]);
    });
    const [lossSum, correct] = totals.dataSync();
    totals.dispose();
    const logs: Logs = { loss: lossSum / n };
    if (this.metrics.includes('accuracy')) logs.acc = correct / n;
    return logs;
  }

  private async evaluateValidation(data: FitDatasetOptions['validationData']): Promise<Logs> {
    if (data === undefined) return {};
    let logs: Logs;
    if (Array.isArray(data)) logs = this.evaluate(data[0], data[1]);
    else if (data instanceof tf.data.Dataset) logs = await this.evaluateDataset(data);
    else if (data !== null && typeof data === 'object' && 'x' in data) logs = this.evaluate(data.x, data.y);
    else {
      throw new NatgradError('DATASET_INVALID', 'Invalid validationData.', {
        expected: '[x, y], {x, y} or a tf.data.Dataset',
        received: describeValue(data),
        fix: 'pass validation tensors as [xVal, yVal]',
      });
    }
    const out: Logs = {};
    for (const [key, v] of Object.entries(logs)) out[`val_${key}`] = v;
    return out;
  }

  /** evaluate() over a batched tf.data.Dataset of {xs, ys} or [x, y]. */
  async evaluateDataset(dataset: tf.data.Dataset<tf.TensorContainer>): Promise<Logs> {
    this.assertAlive('evaluateDataset');
    const it = await dataset.iterator();
    let n = 0;
    let lossSum = 0;
    let correct = 0;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      try {
        const { x, y } = elementXY(r.value);
        const logs = this.evaluate(x, y, { batchSize: Math.max(1, x.shape[0]) });
        n += x.shape[0];
        lossSum += logs.loss * x.shape[0];
        correct += (logs.acc ?? 0) * x.shape[0];
      } finally {
        disposeElement(r.value);
      }
    }
    if (n === 0) {
      throw new NatgradError('DATASET_INVALID', 'The evaluation dataset is empty.', {
        expected: 'at least one batch',
        received: 'a dataset that yielded nothing',
        fix: 'check the dataset pipeline (take/skip/filter)',
      });
    }
    const logs: Logs = { loss: lossSum / n };
    if (this.metrics.includes('accuracy')) logs.acc = correct / n;
    return logs;
  }

  /** Trains on tensors for `epochs` epochs (tfjs-layers' model.fit, with seeded shuffling). */
  async fit(x: tf.Tensor, y: tf.Tensor, options: FitOptions = {}): Promise<History> {
    this.assertAlive('fit');
    checkXY(x, y, 'Trainer.fit');
    const batchSize = positiveInteger(options.batchSize ?? 32, 'batchSize');
    const shuffle = options.shuffle ?? true;
    const k = this.projection.subBatches;
    return this.runEpochs(options.epochs ?? 1, options.validationData, options.callbacks, async function* (self: Trainer) {
      yield* tensorBatches(x, y, batchSize, k, shuffle ? self.rng : null);
    });
  }

  /** Trains on a batched tf.data.Dataset of {xs, ys} or [x, y] (shuffle it in the pipeline). */
  async fitDataset(dataset: tf.data.Dataset<tf.TensorContainer>, options: FitDatasetOptions = {}): Promise<History> {
    this.assertAlive('fitDataset');
    if (!(dataset instanceof tf.data.Dataset)) {
      throw new NatgradError('DATASET_INVALID', 'fitDataset needs a tf.data.Dataset.', {
        expected: 'a tf.data.Dataset',
        received: describeValue(dataset),
        fix: 'wrap arrays with tf.data.array(...) or use fit(x, y)',
      });
    }
    const k = this.projection.subBatches;
    return this.runEpochs(options.epochs ?? 1, options.validationData, options.callbacks, async function* () {
      const it = await dataset.iterator();
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        let batch: Batch;
        try {
          const { x, y } = elementXY(r.value);
          batch = trimBatch(x, y, k);
        } finally {
          disposeElement(r.value);
        }
        yield batch;
      }
    });
  }

  private async runEpochs(
    epochs: number,
    validationData: FitDatasetOptions['validationData'],
    callbacks: TrainerCallbacks | TrainerCallbacks[] | undefined,
    batches: (self: Trainer) => AsyncGenerator<Batch>,
  ): Promise<History> {
    positiveInteger(epochs, 'epochs');
    if (epochs <= this._epoch) {
      throw new NatgradError('INVALID_ARGUMENT', 'fit() has no epoch left to run.', {
        expected: `epochs > ${this._epoch} (epochs is the total; this trainer has completed ${this._epoch})`,
        received: `epochs ${epochs}`,
        fix: `pass epochs: ${this._epoch} + the number of further epochs`,
      });
    }
    const cbs = callbacks === undefined ? [] : Array.isArray(callbacks) ? callbacks : [callbacks];
    const call = async <K extends keyof TrainerCallbacks>(name: K, ...args: Parameters<NonNullable<TrainerCallbacks[K]>>) => {
      for (const cb of cbs) await (cb[name] as ((...a: unknown[]) => unknown) | undefined)?.(...args);
    };
    const history: History = { epoch: [], history: {} };
    this.stopTraining = false;
    await call('onTrainBegin', {});
    // `epochs` is the total like tfjs' fit; a resumed trainer continues from its saved epoch.
    for (let epoch = this._epoch; epoch < epochs && !this.stopTraining; epoch++) {
      await call('onEpochBegin', epoch, {});
      let seen = 0;
      let lossSum = 0;
      let correct = 0;
      let skipped = 0;
      let dropped = 0;
      let index = 0;
      for await (const batch of batches(this)) {
        dropped += batch.dropped;
        if (batch.x.shape[0] === 0) {
          tf.dispose([batch.x, batch.y]);
          continue;
        }
        let result: StepResult;
        try {
          await call('onBatchBegin', index, { batch: index, size: batch.x.shape[0] });
          result = this.step(batch.x, batch.y);
        } finally {
          tf.dispose([batch.x, batch.y]);
        }
        if (result.skipped) skipped++;
        else {
          seen += result.batchSize;
          lossSum += result.loss * result.batchSize;
          correct += result.correct ?? 0;
        }
        const logs: Logs = {
          batch: index,
          size: result.batchSize,
          loss: result.loss,
          lr: result.learningRate,
          skipped: result.skipped ? 1 : 0,
          gradNorm: result.gradNorm,
        };
        if (result.correct !== undefined) logs.acc = result.correct / result.batchSize;
        if (result.damping !== null) logs.damping = result.damping;
        await call('onBatchEnd', index, logs);
        index++;
        if (this.stopTraining) break;
      }
      const logs: Logs = { loss: seen > 0 ? lossSum / seen : Number.NaN };
      if (this.metrics.includes('accuracy')) logs.acc = seen > 0 ? correct / seen : Number.NaN;
      Object.assign(logs, await this.evaluateValidation(validationData));
      logs.skippedSteps = skipped;
      logs.droppedExamples = dropped;
      logs.lr = this.currentLearningRate();
      this._epoch = epoch + 1;
      if (this.plateau !== null) {
        this.plateau.onEpochEnd(logs);
        logs.lr = this.currentLearningRate();
      }
      history.epoch.push(epoch);
      for (const [key, v] of Object.entries(logs)) {
        if (history.history[key] === undefined) history.history[key] = [];
        history.history[key].push(v);
      }
      await call('onEpochEnd', epoch, logs);
    }
    await call('onTrainEnd', {});
    return history;
  }

  private composition(): Record<string, JsonValue> {
    return {
      curvature: this.curvature?.name ?? null,
      projection: this.projection.name,
      updateRule: this.updateRule.name,
      damping: this.damping?.name ?? null,
      plateau: this.plateau !== null,
    };
  }

  /**
   * Serialises weights (all of model.weights, including non-trainable ones such as BatchNorm
   * statistics), update-rule, curvature, damping and plateau state, the step and epoch counters and
   * the RNG state into checkpoint bytes (see checkpoint-format.ts).
   */
  async toCheckpointBytes(): Promise<Uint8Array> {
    this.assertAlive('toCheckpointBytes');
    const weights = this.model.weights;
    const names = new NameCanonicalizer(
      weights.map((w) => w.name),
      this.model.layers.map((l) => l.name),
    );
    const tensors: Record<string, tf.Tensor> = {};
    weights.forEach((w, i) => {
      tensors[`model/@v${i}`] = w.read();
    });
    const states: Record<string, StateDict | null> = {
      updateRule: this.updateRule.getState(),
      curvature: this.curvature?.getState() ?? null,
      damping: this.damping?.getState() ?? null,
      plateau: this.plateau?.getState() ?? null,
    };
    try {
      const stored: Record<string, JsonValue> = {};
      for (const [key, state] of Object.entries(states)) {
        stored[key] = state === null ? null : (storeState(key, state, names, tensors) as unknown as JsonValue);
      }
      const meta: JsonValue = {
        trainer: {
          step: this._step,
          epoch: this._epoch,
          skippedSteps: this._skippedSteps,
          statisticsUpdates: this.statisticsUpdates,
          inverseRefreshes: this.inverseRefreshes,
          rng: this.rng.getState(),
        },
        composition: this.composition(),
        model: { variables: weights.map((w) => ({ name: w.name, shape: [...w.shape], dtype: w.dtype })) },
        states: stored,
      };
      return await encodeCheckpoint(meta, tensors);
    } finally {
      for (const s of Object.values(states)) if (s !== null) tf.dispose(Object.values(s.tensors));
    }
  }

  /** Restores a checkpoint written by toCheckpointBytes(); all-or-nothing (rolls back on failure). */
  fromCheckpointBytes(bytes: Uint8Array): void {
    this.assertAlive('fromCheckpointBytes');
    const { meta, tensors } = decodeCheckpoint(bytes);
    try {
      this.restore(meta as unknown as CheckpointMeta, tensors);
    } finally {
      tf.dispose(Object.values(tensors));
    }
  }

  private restore(meta: CheckpointMeta, tensors: Record<string, tf.Tensor>): void {
    if (meta === null || typeof meta !== 'object' || meta.trainer == null || meta.model == null || meta.states == null) {
      throw new NatgradError('CHECKPOINT_CORRUPT', 'Checkpoint meta is incomplete.', {
        expected: 'trainer, composition, model and states sections',
        received: JSON.stringify(Object.keys(meta ?? {})),
        fix: 'use a checkpoint written by Trainer.save()',
      });
    }
    const mine = this.composition();
    for (const [key, value] of Object.entries(mine)) {
      if (meta.composition?.[key] !== value) {
        throw mismatch(`Checkpoint was written by a different composition (${key}).`, `${key} ${JSON.stringify(value)}`, `${key} ${JSON.stringify(meta.composition?.[key])}`);
      }
    }
    const weights = this.model.weights;
    const saved = meta.model.variables;
    if (!Array.isArray(saved) || saved.length !== weights.length) {
      throw mismatch(
        'Checkpoint holds a different number of model variables.',
        `${weights.length} variables (${weights.map((w) => w.name).join(', ')})`,
        `${Array.isArray(saved) ? saved.length : 'no'} variables (${Array.isArray(saved) ? saved.map((v) => v.name).join(', ') : ''})`,
      );
    }
    weights.forEach((w, i) => {
      const s = saved[i];
      const t = tensors[`model/@v${i}`];
      if (!tf.util.arraysEqual(s.shape, w.shape as number[]) || t === undefined || !tf.util.arraysEqual(t.shape, w.shape as number[])) {
        throw mismatch(
          `Checkpoint variable "${s.name}" does not fit model variable "${w.name}".`,
          `variable #${i} "${w.name}" of shape [${w.shape.join(',')}]`,
          `"${s.name}" of shape [${(s.shape ?? []).join(',')}]`,
        );
      }
    });
    const names = new NameCanonicalizer(
      weights.map((w) => w.name),
      this.model.layers.map((l) => l.name),
    );
    // Snapshot for rollback, so a component that rejects its state leaves the trainer as it was.
    const backup = {
      weights: weights.map((w) => tf.clone(w.read())),
      updateRule: this.updateRule.getState(),
      curvature: this.curvature?.getState() ?? null,
      damping: this.damping?.getState() ?? null,
      plateau: this.plateau?.getState() ?? null,
    };
    const components: [string, { setState(s: StateDict): void } | null][] = [
      ['updateRule', this.updateRule],
      ['curvature', this.curvature],
      ['damping', this.damping],
      ['plateau', this.plateau],
    ];
    try {
      weights.forEach((w, i) => {
        w.write(tensors[`model/@v${i}`]);
      });
      for (const [key, component] of components) {
        const stored = meta.states[key];
        if (component === null) continue;
        if (stored == null) throw mismatch(`Checkpoint has no ${key} state.`, `a ${key} state`, 'none');
        try {
          component.setState(loadState(key, stored, names, tensors));
        } catch (cause) {
          if (cause instanceof NatgradError && cause.code === 'CHECKPOINT_MISMATCH') throw cause;
          throw new NatgradError('CHECKPOINT_MISMATCH', `Checkpoint ${key} state does not fit this trainer.`, {
            expected: `a ${key} state accepted by "${(component as { name?: string }).name ?? key}"`,
            received: cause instanceof Error ? cause.message.split('\n')[0] : String(cause),
            fix: 'load the checkpoint into a trainer built with the same model and the same composition options',
            cause,
          });
        }
      }
      const tr = meta.trainer;
      this.rng.setState(tr.rng);
      this._step = tr.step;
      this._epoch = tr.epoch;
      this._skippedSteps = tr.skippedSteps;
      this.statisticsUpdates = tr.statisticsUpdates;
      this.inverseRefreshes = tr.inverseRefreshes;
    } catch (err) {
      weights.forEach((w, i) => {
        w.write(backup.weights[i]);
      });
      this.updateRule.setState(backup.updateRule);
      if (backup.curvature !== null) this.curvature!.setState(backup.curvature);
      if (backup.damping !== null) this.damping!.setState(backup.damping);
      if (backup.plateau !== null) this.plateau!.setState(backup.plateau);
      throw err;
    } finally {
      tf.dispose(backup.weights);
      for (const s of [backup.updateRule, backup.curvature, backup.damping, backup.plateau]) if (s !== null) tf.dispose(Object.values(s.tensors));
    }
  }

  /** Writes a checkpoint file atomically (temp file, fsync, rename). Node only. */
  async save(path: string): Promise<void> {
    await writeFileAtomic(path, await this.toCheckpointBytes());
  }

  /** Restores a checkpoint file written by save(). Node only. */
  async load(path: string): Promise<void> {
    this.fromCheckpointBytes(await readFileBytes(path));
  }

  /** Releases the update-rule and curvature state and the capture (the model stays the caller's). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.updateRule.dispose();
    this.curvature?.dispose();
  }
}

interface CheckpointMeta {
  trainer: { step: number; epoch: number; skippedSteps: number; statisticsUpdates: number; inverseRefreshes: number; rng: number };
  composition: Record<string, JsonValue>;
  model: { variables: { name: string; shape: number[]; dtype: string }[] };
  states: Record<string, StoredState | null>;
}

export { CHECKPOINT_VERSION };
