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
 * (trainer-checkpoint.ts). With a communicator of more than one rank the same trainer runs the
 * paper's distributed Algorithm 1 (distributed/, docs/algorithms/distributed-fop.md); without one,
 * none of that code runs.
 */
import * as tf from './tf';
import {
  type CurvatureEstimator,
  type DampingSchedule,
  type JsonValue,
  type LossFunction,
  NatgradError,
  type ProjectionStrategy,
  type ScheduleFn,
  type UpdateRule,
  describeValue,
  factorSizes,
} from '@natgrad/core';
import { type ModelCapture, captureModel } from './capture/index';
import { CallGuard } from './call-guard';
import { CHECKPOINT_VERSION } from './checkpoint-format';
import { globalNorm, unclip } from './clipping';
import { CurvatureCadence, finishPendingRefresh, foldStatistics, statisticsInputsFinite } from './curvature-cadence';
import { adaptationDue, applyWithAdaptation } from './damping-adaptation';
import { type Batch, checkXY, disposeElement, elementXY, shardBatch, tensorBatches, trimBatch } from './dataset';
import { type Evaluated, evaluateDataset, evaluateTensors, evaluateValidation } from './evaluate';
import { type FitDatasetOptions, type FitOptions, type History, type Logs, type TrainerCallbacks, runEpochs } from './fit-loop';
import { resolveLoss } from './losses/index';
import type { ReduceLROnPlateau } from './lr-schedules';
import { NON_FINITE_SCALARS, NonTrainableSnapshot, isNonFiniteInput, readStepScalars } from './non-finite-guard';
import { projectGradients } from './projection-phase';
import { Rng } from './rng';
import { type StepInputs, type StepOutcome, type StepResult, allFinite } from './step';
import { StepTensors } from './step-tensors';
import { checkSplittable, correctInBatch, forwardBackward, meanLoss } from './sub-batches';
import { PhaseTimer, type PhaseTimings, accumulate, emptyTimings } from './timings';
import { type CheckpointOptions, type CheckpointSubject, readTrainerCheckpoint, writeTrainerCheckpoint } from './trainer-checkpoint';
import { type Composition, type TrainerConfig, checkFisherSupport, positiveInteger, resolveComposition } from './trainer-config';
import { ShardedCurvature } from './distributed/curvature-shard';
import { applyWithAdaptationDistributed } from './distributed/distributed-adaptation';
import { computeDistributedStep } from './distributed/distributed-step';
import { ReplicaGroup, hashString } from './distributed/replica-group';
import { checkCommunicator, checkDistributedComposition, usesParityGroups, verifyInterval } from './distributed/setup';

// Trainer's own types, importable beside it (presets.ts builds a Composition).
export type { Composition, TrainerConfig } from './trainer-config';
export type { FitDatasetOptions, FitOptions, History, Logs, TrainerCallbacks } from './fit-loop';
export type { StepResult } from './step';

/** Where this trainer sits in a distributed job (Trainer.distributed). */
export interface DistributedInfo {
  rank: number;
  size: number;
  /** The communicator's engine, e.g. 'in-process', 'Open MPI 4.1.4'. */
  engine: string;
  /** owners[i]: the rank that owns curvature layer i (capture order); [] without curvature. */
  owners: readonly number[];
  /** Steps between replica checks (0: off). */
  verifyEvery: number;
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
  /** Distributed mode (a communicator of size > 1): the collectives, the owner map, the sharded curvature state. */
  private readonly group: ReplicaGroup | null = null;
  private readonly shard: ShardedCurvature | null = null;
  private readonly verifyEvery: number = 0;
  private readonly configText: string = '';

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
    const world = checkCommunicator(config.communicator);
    if (world === null) {
      this.curvature?.init(this.capture.layers, this.capture.variables);
    } else {
      checkDistributedComposition(world, this.curvature, this.projection);
      this.verifyEvery = verifyInterval(config.verifyEvery);
      const names = Object.keys(this.capture.variables);
      this.group = new ReplicaGroup(
        world,
        this.curvature === null ? [] : this.capture.layers,
        names,
        names.map((n) => this.capture.variables[n].shape),
        usesParityGroups(this.projection),
      );
      // Each rank keeps only the layers it owns: their factors, inverses and FOP directions.
      const owned = this.group.owned.map((i) => this.capture.layers[i]);
      // A model without curvature layers gets the estimator's own error, as in one process.
      if (this.curvature !== null && (owned.length > 0 || this.capture.layers.length === 0)) this.curvature.init(owned, this.capture.variables);
      if (this.curvature !== null) this.shard = new ShardedCurvature(this.curvature, this.capture.layers, this.group.owned);
      this.configText = this.describeConfig(config);
    }
    this.updateRule.init(this.capture.variables);
  }

  /** Rank, size and owner map in distributed mode; null in a single process. */
  get distributed(): DistributedInfo | null {
    const g = this.group;
    return g === null ? null : { rank: g.rank, size: g.size, engine: g.world.engine, owners: [...g.owners], verifyEvery: this.verifyEvery };
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
    if (this.group !== null) return this.collective(() => this.runDistributedStep(x, y, this.group!));
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
   * step() in distributed mode: (x, y) is this rank's shard of the batch; every rank's shard must
   * have the same size (the means over ranks are then the whole batch's means). The phases are
   * those of runStep, with the communication of distributed/distributed-step.ts in between.
   */
  private async runDistributedStep(x: tf.Tensor, y: tf.Tensor, group: ReplicaGroup): Promise<StepResult> {
    return this.inStep.run('step', async () => {
      this.assertAlive('step');
      checkXY(x, y, 'Trainer.step');
      const timer = new PhaseTimer();
      await timer.timeAsync('communication', () => this.prepareGroup(group));
      const localBatch = x.shape[0];
      const [maxN, negMinN] = await timer.timeAsync('communication', () => group.world.allreduceScalars([localBatch, -localBatch], 'max'));
      if (maxN !== localBatch || -negMinN !== localBatch || localBatch === 0) {
        throw this.consistentError(
          new NatgradError('SHAPE_MISMATCH', 'The ranks passed shards of different sizes (or empty ones) to step().', {
            expected: 'the same non-empty shard size on every rank (the global batch split into equal contiguous parts)',
            received: `shard sizes from ${-negMinN} to ${maxN} (this rank: ${localBatch})`,
            fix: `make the global batch size a multiple of ${group.size} (fit() and fitDataset() drop the remainder themselves)`,
          }),
        );
      }
      const stepIndex = this._step;
      const learningRate = this.currentLearningRate();
      const damping = this.curvature === null ? null : this.damping!.value(stepIndex);
      // The same draws as a single process (one per sub-batch), so the RNG stream is the same at any size.
      const seeds = Array.from({ length: this.projection.subBatches }, () => this.rng.nextSeed());
      const owner = this.ownerCurvature();
      const frozen = new NonTrainableSnapshot(this.model);
      const t = new StepTensors(x, y, 1);
      let outcome: StepOutcome;
      try {
        await timer.timeAsync('inverses', () => finishPendingRefresh(owner));
        const parts = {
          capture: this.capture,
          loss: this.loss,
          curvature: this.curvature,
          projection: this.projection,
          clipNorm: this.clipNorm,
          accuracy: this.accuracy,
          cadence: this.cadence,
          group,
          klClip: this.curvature === null ? null : ((this.curvature as { klClip?: number }).klClip ?? null),
        };
        outcome = await computeDistributedStep(parts, t, timer, { stepIndex, batchSize: localBatch, damping, learningRate, seeds }, localBatch);
        if (!outcome.skipped) {
          if (adaptationDue(this.curvature, this.damping, stepIndex)) {
            const adaptation = { capture: this.capture, loss: this.loss, updateRule: this.updateRule, damping: this.damping!, owner, group };
            const gradient = outcome.clippedNorm === null ? t.meanGrads! : t.ownMap(unclip(t.meanGrads!, outcome.clippedNorm, this.clipNorm!));
            await applyWithAdaptationDistributed(adaptation, timer, x, y, t.directions!, gradient, learningRate, damping!, stepIndex);
          } else {
            timer.time('update', () => this.updateRule.apply(t.directions!, learningRate));
          }
          // BatchNorm moving statistics were updated from this rank's shard only: average them.
          await timer.timeAsync('communication', () => group.averageNonTrainable(this.model));
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
      if (this.verifyEvery > 0 && this._step % this.verifyEvery === 0) await timer.timeAsync('communication', () => group.verify(this.model));
      const timings = timer.finish();
      this._lastTimings = timings;
      accumulate(this._totalTimings, timings);
      const { scalars } = outcome;
      return {
        step: stepIndex,
        loss: scalars.loss,
        ...(this.accuracy ? { correct: scalars.correct } : {}),
        batchSize: localBatch * group.size,
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

  /** The estimator when this rank owns curvature layers (it is initialised with them), else null. */
  private ownerCurvature(): CurvatureEstimator | null {
    return this.group !== null && this.group.owned.length === 0 ? null : this.curvature;
  }

  /** Errors every rank throws at the same point (decided from all-reduced values): no abort. */
  private readonly consistent = new WeakSet<object>();

  private consistentError(err: NatgradError): NatgradError {
    this.consistent.add(err);
    return err;
  }

  /**
   * Runs a collective trainer call. A rank that fails on its own would leave its peers waiting in
   * the next collective forever: it aborts the job (Communicator.abort: every peer rejects with
   * COMMUNICATION_FAILED; under MPI the launcher ends every process) and rethrows its error.
   */
  private async collective<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      const shared = err instanceof NatgradError && (err.code === 'COMMUNICATION_FAILED' || err.code === 'STATE_MISMATCH' || this.consistent.has(err));
      if (!shared) {
        const first = err instanceof Error ? err.message.split('\n')[0] : String(err);
        this.group!.world.abort?.(`rank ${this.group!.rank} failed: ${first}`);
      }
      throw err;
    }
  }

  /** The first collective of this trainer: parity split, configuration check, rank 0's weights everywhere. */
  private async prepareGroup(group: ReplicaGroup): Promise<void> {
    if (group.isPrepared) return;
    const progress = { step: this._step, epoch: this._epoch, rng: this.rng.getState() };
    const text = `${this.configText} ${JSON.stringify(progress)}`;
    await group.prepare(hashString(text), text, this.model);
  }

  /** The fingerprint of everything that must be equal on every rank (compared at the first collective). */
  private describeConfig(config: TrainerConfig): string {
    const k = this.curvature as unknown as { decay?: number; damping?: string; klClip?: number; inverseMethod?: string } | null;
    return JSON.stringify({
      size: this.group!.size,
      composition: this.checkpointSubject().composition,
      subBatches: this.projection.subBatches,
      statisticsEvery: this.statisticsEvery,
      inverseEvery: this.inverseEvery,
      clipNorm: this.clipNorm,
      verifyEvery: this.verifyEvery,
      accuracy: this.accuracy,
      seed: config.seed ?? 0,
      learningRate0: this.learningRate(0),
      damping0: this.damping?.value(0) ?? null,
      adaptEvery: this.damping?.adaptEvery ?? null,
      curvature: k === null ? null : { decay: k.decay, damping: k.damping, klClip: k.klClip ?? null, inverseMethod: k.inverseMethod, fisher: this.curvature!.requires.fisher },
      loss: this.loss.name,
      variables: this.model.weights.map((w) => [w.shape, w.dtype]),
      layers: this.capture.layers.map((l) => [l.kind, factorSizes(l)]),
    });
  }

  /**
   * Distributed mode (collective): checks that every rank holds bit-identical weights (one 32-bit
   * hash per rank, gathered); NatgradError STATE_MISMATCH naming the ranks that differ from rank 0
   * otherwise. The trainer runs it every `verifyEvery` steps itself. In a single process: nothing to compare.
   */
  async verifyReplicas(): Promise<void> {
    this.assertAlive('verifyReplicas');
    const group = this.group;
    if (group === null) return;
    this.inStep.check('verifyReplicas');
    await this.collective(async () => {
      await this.prepareGroup(group);
      await group.verify(this.model);
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
    const rng = this.rng;
    // Distributed: every rank draws the same global batches (same seed) and trains on its shard.
    const group = this.group;
    const multiple = group?.size ?? this.projection.subBatches;
    return this.runEpochs('fit', options.epochs ?? 1, options.validationData, options.callbacks, async function* () {
      for (const batch of tensorBatches(x, y, batchSize, multiple, shuffle ? rng : null)) yield group === null ? batch : shardBatch(batch, group.rank, group.size);
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
    const group = this.group;
    const k = group?.size ?? this.projection.subBatches;
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
        yield group === null ? batch : shardBatch(batch, group.rank, group.size);
      }
    });
  }

  /**
   * Serialises weights (all of model.weights, including non-trainable ones such as BatchNorm
   * statistics), update-rule, curvature, damping and plateau state, the step and epoch counters and
   * the RNG state into checkpoint bytes (see checkpoint-format.ts), with the caller's optional
   * `progress` record in the same checksummed bytes. Refuses (NON_FINITE_INPUT, naming the
   * tensors) a state holding NaN or Infinity, so a diverged run is never saved as resume state.
   * Distributed mode: collective (every rank calls it and receives the bytes; rank 0 writes them),
   * in the single-process format, so any number of ranks (one included) can resume it.
   */
  async toCheckpointBytes(options: CheckpointOptions = {}): Promise<Uint8Array> {
    this.assertAlive('toCheckpointBytes');
    this.inStep.check('toCheckpointBytes');
    const group = this.group;
    if (group === null) return writeTrainerCheckpoint(this.checkpointSubject(), options);
    // Distributed: collective. The owners' curvature layers are gathered into the state one process
    // would hold, so the bytes are the single-process format and resume at any size. Every rank
    // gets the bytes; one (rank 0) writes them. A step may not start while the gather awaits.
    return this.inStep.run('toCheckpointBytes', async () => {
      await this.prepareGroup(group);
      const shard = this.shard;
      if (shard !== null) shard.gathered = await shard.gather(group);
      try {
        return await writeTrainerCheckpoint(this.checkpointSubject(), options);
      } finally {
        if (shard?.gathered) tf.dispose(Object.values(shard.gathered.tensors));
        if (shard !== null) shard.gathered = null;
      }
    });
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
   * Distributed mode: collective; rank 0 passes the bytes, the other ranks may pass null.
   */
  async restoreCheckpoint(bytes: Uint8Array | null): Promise<JsonValue> {
    const group = this.group;
    if (group === null) {
      const progress = this.fromCheckpointBytes(bytes as Uint8Array);
      await this.inStep.run('restoreCheckpoint', () => finishPendingRefresh(this.curvature));
      return progress;
    }
    // Distributed: collective. Rank 0's bytes reach every rank; each keeps the curvature layers it
    // owns under this job's owner map (any size can resume any checkpoint).
    this.assertAlive('restoreCheckpoint');
    this.inStep.check('restoreCheckpoint');
    if (group.rank === 0 && !(bytes instanceof Uint8Array)) {
      const err = new NatgradError('INVALID_ARGUMENT', 'restoreCheckpoint: rank 0 must pass the checkpoint bytes.', {
        expected: 'a Uint8Array on rank 0 (the other ranks may pass null)',
        received: describeValue(bytes),
        fix: 'read the checkpoint on rank 0 (loadCheckpoint / readFile) and pass its bytes',
      });
      group.world.abort?.(`rank 0 failed: ${err.message.split('\n')[0]}`);
      throw err;
    }
    await this.prepareGroup(group);
    const all = await group.world.broadcastBytes(group.rank === 0 ? bytes : null, 0);
    const progress = this.fromCheckpointBytes(all);
    await this.inStep.run('restoreCheckpoint', () => finishPendingRefresh(this.ownerCurvature()));
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
      components: { updateRule: this.updateRule, curvature: this.shard ?? this.curvature, damping: this.damping, plateau: this.plateau },
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
