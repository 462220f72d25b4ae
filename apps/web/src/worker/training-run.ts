/**
 * One training run as the worker drives it, kept free of postMessage so the same code trains in
 * the Node unit test: the seeded model and trainer, host-built batches, test evaluation on a fixed
 * slice of the test split, and a record per step. Seconds count the steps only (batch building
 * included, evaluation excluded), so the "vs seconds" charts compare optimizers' training cost.
 * Between steps it yields a macrotask: on the cpu and wasm backends every awaited read resolves as
 * a microtask, and without the yield a stop message would wait for the whole run.
 */
import * as tf from '@tensorflow/tfjs-core';
import type * as tfl from '@tensorflow/tfjs-layers';
import { Rng, Trainer } from '@natgrad/trainer';
import { BatchOrder, gatherBatch } from '../data/batches';
import type { ImageDataset } from '../data/image-dataset';
import type { StepTrace } from '../metrics/parity';
import type { EvalRecord, StepRecord } from '../metrics/run-record';
import { buildModel } from '../model';
import { composition } from '../optimizers';
import type { RunConfig } from './run-config';

export interface RunEvents {
  step(record: StepRecord, trace: StepTrace | undefined): void;
  evaluated(record: EvalRecord): void;
}

const nextTask = () => new Promise<void>((resolve) => setTimeout(resolve, 0));

export class TrainingRun {
  readonly model: tfl.LayersModel;
  readonly trainer: Trainer;
  private readonly order: BatchOrder;
  private readonly pixels: number;
  private readonly testX: tf.Tensor;
  private readonly testY: tf.Tensor;
  private seconds = 0;
  private disposed = false;

  constructor(
    readonly config: RunConfig,
    private readonly data: ImageDataset,
  ) {
    this.pixels = data.height * data.width * data.channels;
    this.model = buildModel({ inputShape: [data.height, data.width, data.channels], classes: data.numClasses, hidden: config.hidden, seed: config.seed });
    this.trainer = new Trainer({ model: this.model, loss: 'categoricalCrossentropy', metrics: ['accuracy'], seed: config.seed, ...composition(config.optimizer, config.learningRate, config.damping) });
    const rng = new Rng(config.seed);
    this.order = new BatchOrder(data.train.count, config.batchSize, (n) => rng.permutation(n));
    const n = Math.min(config.evalSize, data.test.count);
    const test = gatherBatch(data.test, Int32Array.from({ length: n }, (_, i) => i), this.pixels, data.numClasses);
    this.testX = tf.tensor4d(test.pixels, [n, data.height, data.width, data.channels]);
    this.testY = tf.tensor2d(test.oneHot, [n, data.numClasses]);
  }

  /** Trains config.steps steps (or until stop() says so), reporting each step and evaluation. */
  async run(events: RunEvents, stop: () => boolean): Promise<'finished' | 'stopped'> {
    const { steps, evalEvery } = this.config;
    for (let k = 0; k < steps; k++) {
      await nextTask();
      if (stop()) {
        await this.evaluate(events);
        return 'stopped';
      }
      await this.step(events);
      if ((evalEvery > 0 && (k + 1) % evalEvery === 0) || k + 1 === steps) await this.evaluate(events);
    }
    return 'finished';
  }

  private async step(events: RunEvents): Promise<void> {
    const { height, width, channels, numClasses } = this.data;
    const started = performance.now();
    const host = gatherBatch(this.data.train, this.order.take(), this.pixels, numClasses);
    const x = tf.tensor4d(host.pixels, [host.size, height, width, channels]);
    const y = tf.tensor2d(host.oneHot, [host.size, numClasses]);
    const before = this.config.trace ? this.model.trainableWeights.map((w) => w.read().clone()) : [];
    try {
      const r = await this.trainer.step(x, y);
      this.seconds += (performance.now() - started) / 1000;
      const trace = this.config.trace ? await this.weightMove(before, r.loss, r.gradNorm) : undefined;
      events.step({ step: r.step, seconds: this.seconds, loss: r.loss, gradNorm: r.gradNorm, skipped: r.skipped, diagnostics: r.diagnostics }, trace);
    } finally {
      tf.dispose([x, y, ...before]);
    }
  }

  /** ‖θ_{k+1} − θ_k‖∞ and max|θ_{k+1}| over all trainable weights (one awaited read). */
  private async weightMove(before: tf.Tensor[], loss: number, gradNorm: number): Promise<StepTrace> {
    const stats = tf.tidy(() => {
      const after = this.model.trainableWeights.map((w) => w.read());
      const moves = after.map((a, i) => tf.max(tf.abs(tf.sub(a, before[i]))));
      const sizes = after.map((a) => tf.max(tf.abs(a)));
      return tf.stack([tf.max(tf.stack(moves)), tf.max(tf.stack(sizes))]);
    });
    const [move, maxAbsWeight] = await stats.data();
    stats.dispose();
    return { loss, gradNorm, move, maxAbsWeight };
  }

  private async evaluate(events: RunEvents): Promise<void> {
    if (this.trainer.stepCount === 0) return;
    const logs = await this.trainer.evaluate(this.testX, this.testY, { batchSize: 500 });
    events.evaluated({ step: this.trainer.stepCount, seconds: this.seconds, testLoss: logs.loss, testAccuracy: logs.acc ?? Number.NaN });
  }

  /** The trained model in tfjs' save format (topology and one weights buffer). */
  async artifacts(): Promise<tf.io.ModelArtifacts> {
    let saved: tf.io.ModelArtifacts | undefined;
    await this.model.save(
      tf.io.withSaveHandler(async (a) => {
        saved = a;
        return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
      }),
    );
    return saved!;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.trainer.dispose();
    this.model.dispose();
    tf.dispose([this.testX, this.testY]);
  }
}
