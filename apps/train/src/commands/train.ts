/**
 * `natgrad train`: picks the backend, loads the dataset, builds the model and the Trainer
 * composition, and trains with Trainer.fitDataset; the run folder (lock, evaluation, metrics,
 * plot, checkpoints, summary) is kept by the RunRecorder callbacks in ../run/. `--resume <run-dir>`
 * takes the folder's lock, validates config.json (with the flags' validator) and the checkpoint
 * (its checksums and the progress stored inside it) before writing anything, and continues from the
 * next epoch with the same data order (shuffling is seeded by epoch).
 *
 * Exit status: 0 done, 1 error, 2 bad flags, 3 training diverged (an epoch skipped every step, or a
 * non-finite loss), 4 the run folder is in use by another process, 128 + n when stopped by signal n
 * (130 for Ctrl-C; the message says how to resume).
 */
import { Trainer } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend, describeSelection } from '../backend';
import { type ImageDataset, computeNormalisation, epochBatches, evalBatches, makeBatch, subsetSplit } from '../data/dataset';
import { loadDataset } from '../data/load';
import { FlagError } from '../flags/flag-error';
import { type TrainConfig, parseTrainFlags, trainHelp } from '../flags/train-flags';
import { buildModel, countParams } from '../models/index';
import { makeComposition } from '../optimizer';
import { estimateGramMacs, placeStatistics } from '../statistics-worker';
import { guardInterrupts, type StopTarget } from '../run/interrupts';
import { ProgressBar } from '../run/progress';
import { type Resumed, openResume } from '../run/resume';
import { type RunPaths, createRunDir, writeConfig, writeTextAtomic } from '../run/run-dir';
import { RunLockedError, type RunLock, acquireRunLock } from '../run/run-lock';
import { type RunSummary, RunRecorder } from '../run/run-recorder';
import { removeStaleTemps, restoreRun } from '../run/run-state';
import type { Output } from './output';
import { checkTrainingMemory } from '../models/memory';

export type TrainSummary = RunSummary;

/** Exit status of a run that stopped making progress (README: exit codes). */
export const EXIT_DIVERGED = 3;

function prepareData(dataset: ImageDataset, config: TrainConfig): ImageDataset {
  const pixels = dataset.height * dataset.width * dataset.channels;
  return {
    ...dataset,
    train: subsetSplit(dataset.train, config.trainSize ?? undefined, config.seed, pixels),
    test: subsetSplit(dataset.test, config.testSize ?? undefined, config.seed + 1, pixels),
  };
}

async function evaluate(trainer: Trainer, data: ImageDataset, norm: ReturnType<typeof computeNormalisation>): Promise<{ loss: number; accuracy: number }> {
  let loss = 0;
  let correct = 0;
  for (const idx of evalBatches(data.test.count, 500)) {
    const b = makeBatch(data, data.test, idx, norm);
    try {
      const logs = await trainer.evaluate(b.x, b.y, { batchSize: 500 });
      loss += logs.loss * b.size;
      correct += logs.acc * b.size;
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }
  return { loss: loss / data.test.count, accuracy: correct / data.test.count };
}


/** The training split as a tf.data-shaped dataset: one epoch per iterator, shuffled by epoch. */
function epochDataset(trainer: Trainer, data: ImageDataset, norm: ReturnType<typeof computeNormalisation>, config: TrainConfig) {
  return {
    iterator: async () => {
      // Seeded by epoch, so a resumed run sees exactly the order an uninterrupted one would.
      const batches = epochBatches(data.train.count, config.batch, config.seed * 100003 + trainer.epoch + 1);
      let i = 0;
      return {
        next: async (): Promise<IteratorResult<tf.TensorContainer>> => {
          if (i >= batches.length) return { done: true, value: undefined };
          const b = makeBatch(data, data.train, batches[i++], norm);
          return { done: false, value: { xs: b.x, ys: b.y } };
        },
      };
    },
  };
}

export async function trainCommand(argv: string[], out: Output): Promise<number> {
  const flags = parseTrainFlags(argv);
  if (flags.help) {
    out.stdout(trainHelp());
    return 0;
  }
  const json = flags.json;
  const emit = (event: Record<string, unknown>, text: string | null) => {
    if (json) out.stdout(`${JSON.stringify(event)}\n`);
    else if (text !== null) out.stdout(`${text}\n`);
  };
  const warn = (event: Record<string, unknown>, text: string) => {
    if (json) out.stdout(`${JSON.stringify(event)}\n`);
    else out.stderr(`${text}\n`);
  };
  let lock: RunLock | null = null;
  const target: StopTarget = { dir: null, checkpointEpoch: 0, release: () => lock?.release() };
  const unguard = guardInterrupts(target);
  try {
    return await train(flags, out, emit, warn, target, (l) => {
      lock = l;
    });
  } catch (err) {
    if (!(err instanceof RunLockedError)) throw err;
    out.stderr(`natgrad: ${err.message}\n`);
    if (json) out.stdout(`${JSON.stringify({ event: 'error', code: err.code, message: err.message, expected: err.expected, received: err.received, fix: err.fix })}\n`);
    return err.exitCode;
  } finally {
    unguard();
    (lock as RunLock | null)?.release();
  }
}

type Emitter = (event: Record<string, unknown>, text: string | null) => void;

async function train(
  flags: ReturnType<typeof parseTrainFlags>,
  out: Output,
  emit: Emitter,
  warn: (event: Record<string, unknown>, text: string) => void,
  target: StopTarget,
  locked: (lock: RunLock) => void,
): Promise<number> {
  let resumed: Resumed | null = null;
  let runLock: RunLock | null = null;
  if (flags.resume !== null) {
    const opened = await openResume(flags.resume, flags);
    runLock = opened.lock;
    locked(runLock);
    if (runLock.replaced !== null) {
      warn({ event: 'warning', kind: 'stale-lock', previous: runLock.replaced }, `natgrad: note: took over the stale lock of pid ${runLock.replaced.pid} on ${runLock.replaced.host} (that process is gone)`);
    }
    resumed = opened.resumed;
    target.dir = resumed.paths.dir;
    target.checkpointEpoch = resumed.progress.epoch;
  }
  const config = resumed?.config ?? flags.config;

  const selection = await chooseBackend(config.backend);
  const backendLines = describeSelection(selection);
  if (flags.json) emit({ event: 'backend', name: selection.name, reason: selection.reason, attempts: selection.attempts }, null);
  else out.stderr(`${backendLines.join('\n')}\n`);

  const data = prepareData(await loadDataset(config.dataset, config.dataDir ?? undefined), config);
  const norm = computeNormalisation(data.train, data.channels);
  if (data.train.count < config.batch) {
    throw new FlagError('train', [{ flag: 'batch', message: `${config.batch} is larger than the ${data.train.count} training examples; pass a smaller --batch` }]);
  }
  // Before anything is allocated: a model too large for the backend fails inside tfjs with
  // "memory access out of bounds"; this names the flag to lower (the flags layer can only check
  // this when --backend names one, here the chosen backend is known).
  checkTrainingMemory(config, [data.height, data.width, data.channels], data.numClasses, selection.name);
  // epochBatches keeps full batches only: no need to shuffle the split just to count them.
  const stepsPerEpoch = Math.floor(data.train.count / config.batch);

  const model = buildModel(config.model, {
    inputShape: [data.height, data.width, data.channels],
    numClasses: data.numClasses,
    seed: config.seed,
    outputActivation: 'softmax',
    // Configs written before --width existed have no such key.
    width: config.width ?? undefined,
  });
  const statistics = await placeStatistics(config, selection.name, estimateGramMacs(model, config.batch));
  if (flags.json) emit({ event: 'statistics', worker: statistics.worker !== undefined, reason: statistics.line }, null);
  else out.stderr(`${statistics.line}\n`);
  let trainer: Trainer | null = null;
  try {
    trainer = new Trainer({ model, loss: 'categoricalCrossentropy', seed: config.seed, metrics: ['accuracy'], ...makeComposition(config, stepsPerEpoch, statistics.worker) });
    let paths: RunPaths;
    if (resumed) {
      paths = resumed.paths;
      await restoreRun(trainer, paths.checkpoint, resumed.progress);
      // Validated: from here on the run folder is written.
      writeTextAtomic(paths.metrics, resumed.records.map((r) => `${JSON.stringify(r)}\n`).join(''));
      removeStaleTemps(paths.dir, paths.checkpoint);
    } else {
      paths = createRunDir(config.runsDir, config.name);
      runLock = acquireRunLock(paths.dir);
      locked(runLock);
      target.dir = paths.dir;
    }
    writeConfig(paths, {
      config,
      environment: {
        backend: selection.name,
        backendReason: selection.reason,
        node: process.version,
        platform: `${process.platform}-${process.arch}`,
        datasetSource: data.source,
        trainExamples: data.train.count,
        testExamples: data.test.count,
        parameters: countParams(model),
        stepsPerEpoch,
      },
    });

    const startEpoch = resumed?.progress.epoch ?? 0;
    const header = `run ${paths.dir}\n${config.dataset} (${data.train.count} train / ${data.test.count} test, ${data.source}), ${config.model} (${countParams(model)} parameters), ${config.optimizer} [curvature ${config.curvature}, projection ${config.projection}], batch ${config.batch}, lr ${config.lr}${resumed ? `, resuming after epoch ${startEpoch}` : ''}`;
    emit({ event: 'start', runDir: paths.dir, config, backend: selection.name, resumedFromEpoch: resumed ? startEpoch : null, stepsPerEpoch }, header);

    const t = trainer;
    const remedy = config.curvature === 'none' ? `lower --lr (now ${config.lr})` : `lower --lr (now ${config.lr}) or raise --damping (now ${config.damping})`;
    const recorder = new RunRecorder({
      trainer: t,
      paths,
      lock: runLock as RunLock,
      epochs: config.epochs,
      stepsPerEpoch,
      targetAccuracy: config.targetAccuracy,
      plotTitle: `${config.name}: ${config.dataset} / ${config.model} / ${config.optimizer}`,
      start: resumed?.progress ?? null,
      startSeconds: resumed?.elapsedSeconds ?? 0,
      records: resumed?.records ?? [],
      evaluate: () => evaluate(t, data, norm),
      progressBar: new ProgressBar({ isTTY: out.stderrIsTTY, columns: out.stderrColumns, write: (s) => out.stderr(s) }),
      emit,
      warn,
      remedy,
      onCheckpoint: (epoch) => {
        target.checkpointEpoch = epoch;
      },
    });
    await t.fitDataset(epochDataset(t, data, norm, config), { epochs: config.epochs, callbacks: recorder });
    const summary = recorder.finish(selection.name);
    const targetText =
      config.targetAccuracy === null ? '' : summary.targetReached ? `, target reached at epoch ${summary.targetReached.epoch} (${summary.targetReached.seconds.toFixed(1)} s)` : ', target not reached';
    const bestText = summary.bestEpoch === null ? '' : ` (epoch ${summary.bestEpoch}, checkpoint/best.ckpt)`;
    emit(
      { event: 'end', ...summary },
      `${summary.status === 'done' ? 'done' : 'diverged'}: final test acc ${(100 * summary.finalAccuracy).toFixed(2)}%, best ${(100 * summary.bestAccuracy).toFixed(2)}%${bestText}, ${summary.trainingSeconds.toFixed(1)} s of training${targetText}\nwrote ${paths.dir}/{config.json,metrics.jsonl,metrics.csv,plot.svg,summary.json,checkpoint/}`,
    );
    if (summary.divergence !== null) {
      out.stderr(
        `natgrad: training stopped making progress at epoch ${summary.epochs}: ${summary.divergence}. That epoch was not checkpointed${target.checkpointEpoch > 0 ? ` (the last checkpoint is epoch ${target.checkpointEpoch})` : ''}; ${remedy}, and start a new run. Exit status ${EXIT_DIVERGED}.\n`,
      );
      return EXIT_DIVERGED;
    }
    return 0;
  } finally {
    if (trainer) trainer.dispose();
    model.dispose();
    await statistics.worker?.terminate();
  }
}
