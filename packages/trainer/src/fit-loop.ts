/**
 * The epoch loop behind fit() and fitDataset(), with tfjs-layers' conventions: `epochs` is the
 * total (a trainer restored from a checkpoint continues up to it), callbacks receive batch and
 * epoch logs, epoch logs average the loss over the examples of the steps that were not skipped,
 * and validation runs after each epoch. A ReduceLROnPlateau multiplier sees every epoch's logs.
 * Epoch logs also say how healthy the epoch was (steps, skippedSteps, dampingBoosts, the damping
 * the next step uses), so a caller can report divergence and stop (trainer.stopTraining = true).
 */
import * as tf from './tf';
import { NatgradError } from '@natgrad/core';
import type { Batch } from './dataset';
import type { ReduceLROnPlateau } from './lr-schedules';
import type { StepResult } from './step';
import { positiveInteger } from './trainer-config';

export type Logs = Record<string, number>;

/**
 * fit()'s callbacks, awaited in order. Batch logs: batch, size, loss, lr, skipped (0/1),
 * dampingBoosted (0/1), gradNorm, acc, damping. Epoch logs: loss and acc over the steps that were
 * not skipped (NaN when every step was skipped), the validation logs (val_loss, val_acc), steps,
 * skippedSteps, dampingBoosts, droppedExamples, lr and, with curvature, damping. onEpochEnd runs
 * after the epoch is counted (trainer.epoch is epoch + 1), so a checkpoint saved there resumes after
 * it. Any callback may set trainer.stopTraining = true to end fit() after the current batch.
 */
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

/** What the loop drives: the Trainer. */
export interface FitHost {
  readonly epoch: number;
  stopTraining: boolean;
  readonly plateau: ReduceLROnPlateau | null;
  currentLearningRate(): number;
  currentDamping(): number | null;
}

export interface EpochLoop {
  epochs: number;
  callbacks: TrainerCallbacks | TrainerCallbacks[] | undefined;
  /** Adds `acc` to the epoch logs. */
  accuracy: boolean;
  /** The batches of one epoch; each is disposed by the loop. */
  batches: () => AsyncGenerator<Batch>;
  /** One optimisation step (the trainer's, inside the fit call's guard). */
  step: (x: tf.Tensor, y: tf.Tensor) => Promise<StepResult>;
  /** The validation logs of one epoch (empty without validation data). */
  validate: () => Promise<Logs>;
  /** Records a completed epoch on the host. */
  completeEpoch: (epoch: number) => void;
}

export async function runEpochs(host: FitHost, loop: EpochLoop): Promise<History> {
  const { epochs } = loop;
  positiveInteger(epochs, 'epochs');
  if (epochs <= host.epoch) {
    throw new NatgradError('INVALID_ARGUMENT', 'fit() has no epoch left to run.', {
      expected: `epochs > ${host.epoch} (epochs is the total; this trainer has completed ${host.epoch})`,
      received: `epochs ${epochs}`,
      fix: `pass epochs: ${host.epoch} + the number of further epochs`,
    });
  }
  const cbs = loop.callbacks === undefined ? [] : Array.isArray(loop.callbacks) ? loop.callbacks : [loop.callbacks];
  const call = async <K extends keyof TrainerCallbacks>(name: K, ...args: Parameters<NonNullable<TrainerCallbacks[K]>>) => {
    for (const cb of cbs) await (cb[name] as ((...a: unknown[]) => unknown) | undefined)?.(...args);
  };
  const history: History = { epoch: [], history: {} };
  host.stopTraining = false;
  await call('onTrainBegin', {});
  // `epochs` is the total like tfjs' fit; a resumed trainer continues from its saved epoch.
  for (let epoch = host.epoch; epoch < epochs && !host.stopTraining; epoch++) {
    await call('onEpochBegin', epoch, {});
    let seen = 0;
    let lossSum = 0;
    let correct = 0;
    let skipped = 0;
    let boosts = 0;
    let dropped = 0;
    let index = 0;
    for await (const batch of loop.batches()) {
      dropped += batch.dropped;
      if (batch.x.shape[0] === 0) {
        tf.dispose([batch.x, batch.y]);
        continue;
      }
      let result: StepResult;
      try {
        await call('onBatchBegin', index, { batch: index, size: batch.x.shape[0] });
        result = await loop.step(batch.x, batch.y);
      } finally {
        tf.dispose([batch.x, batch.y]);
      }
      if (result.dampingBoosted) boosts++;
      if (result.skipped) skipped++;
      else {
        seen += result.batchSize;
        lossSum += result.loss * result.batchSize;
        correct += result.correct ?? 0;
      }
      await call('onBatchEnd', index, batchLogs(index, result));
      index++;
      if (host.stopTraining) break;
    }
    if (index === 0 && !host.stopTraining) {
      // An epoch without a step would log NaN and count as trained: an empty training set (or
      // one smaller than the projection's sub-batches) is the caller's data, not a divergence.
      throw new NatgradError('DATASET_INVALID', 'fit() got no training batch for an epoch.', {
        expected: 'at least one batch with examples per epoch',
        received: dropped > 0 ? `no batch: all ${dropped} examples were dropped (each batch must split into the projection's equal sub-batches)` : 'no examples',
        fix: dropped > 0 ? 'pass more examples or a batch size divisible by the number of sub-batches (2 for FOP)' : 'pass a non-empty training set',
      });
    }
    const logs: Logs = { loss: seen > 0 ? lossSum / seen : Number.NaN };
    if (loop.accuracy) logs.acc = seen > 0 ? correct / seen : Number.NaN;
    Object.assign(logs, await loop.validate());
    logs.steps = index;
    logs.skippedSteps = skipped;
    logs.dampingBoosts = boosts;
    logs.droppedExamples = dropped;
    logs.lr = host.currentLearningRate();
    const damping = host.currentDamping();
    if (damping !== null) logs.damping = damping;
    loop.completeEpoch(epoch);
    if (host.plateau !== null) {
      host.plateau.onEpochEnd(logs);
      logs.lr = host.currentLearningRate();
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

function batchLogs(index: number, result: StepResult): Logs {
  const logs: Logs = {
    batch: index,
    size: result.batchSize,
    loss: result.loss,
    lr: result.learningRate,
    skipped: result.skipped ? 1 : 0,
    dampingBoosted: result.dampingBoosted ? 1 : 0,
    gradNorm: result.gradNorm,
  };
  if (result.correct !== undefined) logs.acc = result.correct / result.batchSize;
  if (result.damping !== null) logs.damping = result.damping;
  return logs;
}
