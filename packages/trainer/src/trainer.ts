/**
 * The Trainer: an ordinary tf.LayersModel trained by a composition of small objects
 * {curvature, damping, projection, updateRule, learningRate} that it knows only through the
 * @natgrad/core contracts (docs/architecture.md). One step follows the FOP data flow of
 * arXiv 2508.13898 (fop-spec.md, "One step"): split the batch into the projection's sub-batches,
 * forward/backward each (capturing layer inputs and output gradients on statistics steps), fold the
 * whole batch into the curvature statistics and refresh the inverses on their cadences, combine
 * and precondition, guard against non-finite values, apply the update rule, and adapt the damping.
 * Each phase lives in its own file; this class only holds the composition and the counters and
 * runs the phases in order. fit()/fitDataset()/evaluate() follow tfjs-layers (fit-loop.ts,
 * evaluate.ts), and toCheckpointBytes()/restoreCheckpoint() save and restore everything a bit-identical resume needs
 * (trainer-checkpoint.ts).
 */
import * as tf from './tf';
import {
  type CurvatureEstimator,
  type DampingSchedule,
  type JsonValue,
  type LossFunction,
  NatgradError,
  type ProjectionDiagnostics,
  type ProjectionStrategy,
  type ScheduleFn,
  type UpdateRule,
  describeValue,
} from '@natgrad/core';
import { type ModelCapture, captureModel } from './capture/index';
import { CallGuard } from './call-guard';
import { CHECKPOINT_VERSION } from './checkpoint-format';
import { globalNorm, unclip } from './clipping';
import { CurvatureCadence, finishPendingRefresh, foldStatistics, statisticsInputsFinite } from './curvature-cadence';
import { adaptationDue, applyWithAdaptation } from './damping-adaptation';
import { type Batch, checkXY, disposeElement, elementXY, tensorBatches, trimBatch } from './dataset';
import { type Evaluated, evaluateDataset, evaluateTensors, evaluateValidation } from './evaluate';
import { type FitDatasetOptions, type FitOptions, type History, type Logs, type TrainerCallbacks, runEpochs } from './fit-loop';
import { resolveLoss } from './losses/index';
import type { ReduceLROnPlateau } from './lr-schedules';
import { NON_FINITE_SCALARS, NonTrainableSnapshot, type StepScalars, isNonFiniteInput, readStepScalars } from './non-finite-guard';
import { projectGradients } from './projection-phase';
import { Rng } from './rng';
import { type StepResult, allFinite } from './step';
import { StepTensors } from './step-tensors';
import { checkSplittable, correctInBatch, forwardBackward, meanLoss } from './sub-batches';
import { PhaseTimer, type PhaseTimings, accumulate, emptyTimings } from './timings';
import { type CheckpointOptions, type CheckpointSubject, readTrainerCheckpoint, writeTrainerCheckpoint } from './trainer-checkpoint';
import { type Composition, type TrainerConfig, checkFisherSupport, positiveInteger, resolveComposition } from './trainer-config';

// Trainer's own types, importable beside it (presets.ts builds a Composition).
export type { Composition, TrainerConfig } from './trainer-config';
export type { FitDatasetOptions, FitOptions, History, Logs, TrainerCallbacks } from './fit-loop';
export type { StepResult } from './step';

/** What a step knows before its phases run. */
interface StepInputs {
  stepIndex: number;
  batchSize: number;
  damping: number | null;
  learningRate: number;
  seeds: number[];
}

/** What the phases before the update decided, and the step's one host read. */
interface StepOutcome {
  skipped: boolean;
  statisticsUpdated: boolean;
  inversesRefreshed: boolean;
  diagnostics: Record<string, ProjectionDiagnostics>;
  scalars: StepScalars;
  /** The mean gradient's norm before clipping, when clipping ran (owned by the step's tensors). */
  clippedNorm: tf.Scalar | null;
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
  private readonly accuracy: boolean;
  private readonly rng: Rng;
  private readonly cadence: CurvatureCadence;
  private readonly evaluation: Evaluated;
  private _step = 0;
  private _epoch = 0;
  private _skippedSteps = 0;
  private disposed = false;
  /** step/fit/fitDataset: one training call at a time (fit's own steps run inside its call). */
  private readonly training = new CallGuard();
  /** A step in flight: evaluate and the checkpoint calls must not see its half-done state. */
  private readonly inStep = new CallGuard();
  private readonly _totalTimings: PhaseTimings = emptyTimings();
  private _lastTimings: PhaseTimings = emptyTimings();

  constructor(config: TrainerConfig) {
    const c = resolveComposition(config);
    this.model = config.model;
    this.curvature = c.curvature;
    this.damping = c.damping;
    this.projection = c.projection;
    this.updateRule = c.updateRule;
    this.learningRate = c.learningRate;
    this.plateau = c.plateau;
    this.statisticsEvery = c.statisticsEvery;
    this.inverseEvery = c.inverseEvery;
    this.clipNorm = c.clipNorm;
    this.accuracy = c.metrics.includes('accuracy');
    this.cadence = new CurvatureCadence(c.statisticsEvery, c.inverseEvery);
    this.rng = new Rng(config.seed ?? 0);
    this.capture = captureModel(config.model, config.capture);
    this.loss = resolveLoss(config.loss, { outputActivation: this.capture.outputActivation });
    checkFisherSupport(this.curvature, this.loss);
    this.evaluation = { capture: this.capture, loss: this.loss, accuracy: this.accuracy };
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

  /** The damping the next step will use (null without curvature): shows a boost after skipped steps. */
  currentDamping(): number | null {
    return this.damping === null ? null : this.damping.value(this._step);
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

  /**
   * One optimisation step on the batch (x, y). Inputs stay owned by the caller and must stay alive
   * until the promise settles; no tensor is returned, and tf.memory().numTensors is unchanged
   * afterwards. Asynchronous because the step reads its scalars from the device (WebGPU cannot
   * read synchronously); a second step() (or a fit()) before this one settles is refused with
   * CONCURRENT_CALL.
   */
  async step(x: tf.Tensor, y: tf.Tensor): Promise<StepResult> {
    this.assertAlive('step');
    return this.training.run('step', () => this.runStep(x, y));
  }

  private async runStep(x: tf.Tensor, y: tf.Tensor): Promise<StepResult> {
    return this.inStep.run('step', async () => {
      this.assertAlive('step');
      checkXY(x, y, 'Trainer.step');
      const batchSize = checkSplittable(x, this.projection);
      const stepIndex = this._step;
      const learningRate = this.currentLearningRate();
      const damping = this.curvature === null ? null : this.damping!.value(stepIndex);
      // Drawn every step, whatever the cadence, so the RNG stream depends only on the step count.
      const seeds = Array.from({ length: this.projection.subBatches }, () => this.rng.nextSeed());
      const timer = new PhaseTimer();
      // The training forward itself writes non-trainable weights (BatchNorm moving statistics);
      // a skipped step must leave every weight bit-identical.
      const frozen = new NonTrainableSnapshot(this.model);
      // Every tensor of the step lives here until the finally below: tf.tidy cannot span awaits.
      const t = new StepTensors(x, y, this.projection.subBatches);
      let outcome: StepOutcome;
      try {
        // A state restored without its inverse cache (fromCheckpointBytes is synchronous).
        await timer.timeAsync('inverses', () => finishPendingRefresh(this.curvature));
        outcome = await this.computeStep(t, timer, { stepIndex, batchSize, damping, learningRate, seeds });
        if (!outcome.skipped) {
          if (adaptationDue(this.curvature, this.damping, stepIndex)) {
            const parts = { capture: this.capture, loss: this.loss, updateRule: this.updateRule, curvature: this.curvature!, damping: this.damping! };
            // q(delta) models the loss, whose gradient is the mean gradient before clipping.
            const gradient = outcome.clippedNorm === null ? t.meanGrads! : t.ownMap(unclip(t.meanGrads!, outcome.clippedNorm, this.clipNorm!));
            await applyWithAdaptation(parts, timer, x, y, t.directions!, gradient, learningRate, damping!, stepIndex);
          } else {
            timer.time('update', () => this.updateRule.apply(t.directions!, learningRate));
          }
        } else {
          frozen.restore();
          this._skippedSteps++;
          this.damping?.onNonFiniteStep(stepIndex);
        }
      } finally {
        frozen.dispose();
        t.dispose();
      }
      this._step++;
      const timings = timer.finish();
      this._lastTimings = timings;
      accumulate(this._totalTimings, timings);
      const { scalars } = outcome;
      return {
        step: stepIndex,
        loss: scalars.loss,
        ...(this.accuracy ? { correct: scalars.correct } : {}),
        batchSize,
        skipped: outcome.skipped,
        dampingBoosted: outcome.skipped && this.damping !== null,
        learningRate,
        damping,
        gradNorm: scalars.gradNorm,
        statisticsUpdated: outcome.statisticsUpdated,
        inversesRefreshed: outcome.inversesRefreshed,
        diagnostics: outcome.diagnostics,
        timings,
      };
    });
  }

  /**
   * The phases of a step up to its one scalar read: forward/backward, statistics and inverses on
   * their cadences, projection, KL clipping, and the non-finite guard. Writes every tensor to `t`.
   */
  private async computeStep(t: StepTensors, timer: PhaseTimer, s: StepInputs): Promise<StepOutcome> {
    const curvature = this.curvature;
    const doStatistics = curvature !== null && this.cadence.statisticsDue(s.stepIndex);
    const outcome: StepOutcome = { skipped: false, statisticsUpdated: false, inversesRefreshed: false, diagnostics: {}, scalars: NON_FINITE_SCALARS, clippedNorm: null };
    try {
      timer.time('forwardBackward', () =>
        forwardBackward(this.capture, this.loss, t, {
          capture: doStatistics && curvature.requires.captures,
          fisher: curvature?.requires.fisher ?? 'empirical',
          seeds: s.seeds,
        }),
      );
      const loss = t.own(meanLoss(t));
      const correct = t.own(this.accuracy ? correctInBatch(t) : tf.scalar(0));

      if (doStatistics) {
        if (await statisticsInputsFinite(loss, t, s.batchSize)) {
          await timer.timeAsync('statistics', () => foldStatistics(curvature, t, s.batchSize));
          this.cadence.statisticsUpdates++;
          outcome.statisticsUpdated = true;
        } else {
          outcome.skipped = true;
        }
      }
      if (!outcome.skipped && curvature !== null && this.cadence.inversesDue(s.stepIndex)) {
        await timer.timeAsync('inverses', () => curvature.refreshInverses(s.damping!));
        this.cadence.inverseRefreshes++;
        outcome.inversesRefreshed = true;
      }
      if (!outcome.skipped) {
        outcome.clippedNorm = await timer.timeAsync('projection', async () => {
          const projected = await projectGradients(t, this.projection, curvature, this.clipNorm);
          outcome.diagnostics = projected.diagnostics;
          await curvature?.scaleUpdate?.(t.directions!, t.meanGrads!, s.learningRate);
          return projected.clippedNorm;
        });
      }
      const gradNorm = outcome.clippedNorm ?? t.own(t.meanGrads !== null ? globalNorm(t.meanGrads) : tf.scalar(Number.NaN));
      const finite = t.own(allFinite(t.directions === null ? [loss] : [loss, ...Object.values(t.directions)]));
      outcome.scalars = await readStepScalars(loss, finite, gradNorm, correct);
      if (!outcome.scalars.finite) outcome.skipped = true;
    } catch (err) {
      if (!isNonFiniteInput(err)) throw err;
      outcome.skipped = true;
      outcome.scalars = NON_FINITE_SCALARS;
    }
    return outcome;
  }

  /** Mean loss (and accuracy with metrics: ['accuracy']) over (x, y) in inference mode. */
  async evaluate(x: tf.Tensor, y: tf.Tensor, options: { batchSize?: number } = {}): Promise<Logs> {
    this.assertAlive('evaluate');
    this.inStep.check('evaluate');
    return evaluateTensors(this.evaluation, x, y, options.batchSize);
  }

  /** evaluate() over a batched tf.data.Dataset of {xs, ys} or [x, y]. */
  async evaluateDataset(dataset: tf.data.Dataset<tf.TensorContainer>): Promise<Logs> {
    this.assertAlive('evaluateDataset');
    this.inStep.check('evaluateDataset');
    return evaluateDataset(this.evaluation, dataset);
  }

  /**
   * Trains on tensors for `epochs` epochs (tfjs-layers' model.fit, with seeded shuffling). Callbacks
   * may evaluate and save between steps; a step() or another fit() meanwhile is refused.
   */
  async fit(x: tf.Tensor, y: tf.Tensor, options: FitOptions = {}): Promise<History> {
    this.assertAlive('fit');
    checkXY(x, y, 'Trainer.fit');
    const batchSize = positiveInteger(options.batchSize ?? 32, 'batchSize');
    const shuffle = options.shuffle ?? true;
    const k = this.projection.subBatches;
    const rng = this.rng;
    return this.runEpochs('fit', options.epochs ?? 1, options.validationData, options.callbacks, async function* () {
      yield* tensorBatches(x, y, batchSize, k, shuffle ? rng : null);
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
    return this.runEpochs('fitDataset', options.epochs ?? 1, options.validationData, options.callbacks, async function* () {
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

  /**
   * Serialises weights (all of model.weights, including non-trainable ones such as BatchNorm
   * statistics), update-rule, curvature, damping and plateau state, the step and epoch counters and
   * the RNG state into checkpoint bytes (see checkpoint-format.ts), with the caller's optional
   * `progress` record in the same checksummed bytes. Refuses (NON_FINITE_INPUT, naming the
   * tensors) a state holding NaN or Infinity, so a diverged run is never saved as resume state.
   */
  async toCheckpointBytes(options: CheckpointOptions = {}): Promise<Uint8Array> {
    this.assertAlive('toCheckpointBytes');
    this.inStep.check('toCheckpointBytes');
    return writeTrainerCheckpoint(this.checkpointSubject(), options);
  }

  /**
   * Restores a checkpoint written by toCheckpointBytes(); all-or-nothing (rolls back on failure).
   * Synchronous: an inverse cache the curvature could not restore as saved (a KFAC state of the
   * other damping mode) is rebuilt by restoreCheckpoint() or, after this call, at the start of the next step.
   * Returns the `progress` record stored with toCheckpointBytes({progress}) (null if none);
   * refuses a checkpoint holding non-finite values (NON_FINITE_INPUT) before changing anything.
   */
  fromCheckpointBytes(bytes: Uint8Array): JsonValue {
    this.assertAlive('fromCheckpointBytes');
    this.inStep.check('fromCheckpointBytes');
    return readTrainerCheckpoint(this.checkpointSubject(), bytes);
  }

  /**
   * fromCheckpointBytes() and then the rebuild of any inverse cache the curvature could not restore
   * as saved, so the next step starts from exactly the saved state. Files: saveCheckpoint and
   * loadCheckpoint in '@natgrad/trainer/node' (this entry has no file system, it runs in browsers).
   */
  async restoreCheckpoint(bytes: Uint8Array): Promise<JsonValue> {
    const progress = this.fromCheckpointBytes(bytes);
    await this.inStep.run('restoreCheckpoint', () => finishPendingRefresh(this.curvature));
    return progress;
  }

  /** Releases the update-rule and curvature state and the capture (the model stays the caller's). */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.updateRule.dispose();
    this.curvature?.dispose();
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

  /** fit()/fitDataset(): the epoch loop as the one training call; its steps run inside it. */
  private runEpochs(
    what: 'fit' | 'fitDataset',
    epochs: number,
    validationData: FitDatasetOptions['validationData'],
    callbacks: TrainerCallbacks | TrainerCallbacks[] | undefined,
    batches: () => AsyncGenerator<Batch>,
  ): Promise<History> {
    return this.training.run(what, () =>
      runEpochs(this, {
        epochs,
        callbacks,
        accuracy: this.accuracy,
        batches,
        step: (x, y) => this.runStep(x, y),
        validate: () => evaluateValidation(this.evaluation, validationData),
        completeEpoch: (epoch) => {
          this._epoch = epoch + 1;
        },
      }),
    );
  }

  private checkpointSubject(): CheckpointSubject {
    return {
      model: this.model,
      components: { updateRule: this.updateRule, curvature: this.curvature, damping: this.damping, plateau: this.plateau },
      composition: {
        curvature: this.curvature?.name ?? null,
        projection: this.projection.name,
        updateRule: this.updateRule.name,
        damping: this.damping?.name ?? null,
        plateau: this.plateau !== null,
      },
      progress: () => ({
        step: this._step,
        epoch: this._epoch,
        skippedSteps: this._skippedSteps,
        statisticsUpdates: this.cadence.statisticsUpdates,
        inverseRefreshes: this.cadence.inverseRefreshes,
        rng: this.rng.getState(),
      }),
      setProgress: (p) => {
        this.rng.setState(p.rng);
        this._step = p.step;
        this._epoch = p.epoch;
        this._skippedSteps = p.skippedSteps;
        this.cadence.statisticsUpdates = p.statisticsUpdates;
        this.cadence.inverseRefreshes = p.inverseRefreshes;
      },
    };
  }
}

export { CHECKPOINT_VERSION };
