/**
 * `natgrad train`: picks the backend, loads the dataset, builds the model and the Trainer
 * composition, and runs the epoch loop with a progress bar. After every epoch it evaluates on the
 * test split, appends to metrics.jsonl / rewrites metrics.csv and the plot, and writes the
 * checkpoint (then checkpoint/progress.json, so a resume never trusts a checkpoint that was
 * being written). `--resume <run-dir>` reloads config.json and the checkpoint and continues from
 * the next epoch with the same data order (shuffling is seeded by epoch).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { Trainer } from '@natgrad/trainer';
import { loadCheckpoint, saveCheckpoint } from '@natgrad/trainer/node';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend, describeSelection } from '../backend';
import { type ImageDataset, computeNormalisation, epochBatches, evalBatches, makeBatch, subsetSplit } from '../data/dataset';
import { loadDataset } from '../data/load';
import { FlagError } from '../flags/flag-error';
import { RESUMABLE_FLAGS, type TrainConfig, parseTrainFlags, trainHelp } from '../flags/train-flags';
import { buildModel, countParams } from '../models/index';
import { makeComposition } from '../optimizer';
import { estimateGramMacs, placeStatistics } from '../statistics-worker';
import { type EpochRecord, appendMetrics, firstReaching, readMetrics, writeMetricsCsv } from '../run/metrics';
import { renderRunPlot, svgToPng } from '../run/plot';
import { ProgressBar } from '../run/progress';
import { type RunPaths, createRunDir, readConfig, runPaths, writeConfig } from '../run/run-dir';
import type { Output } from './output';

/** Written after each checkpoint: the epoch it holds and the training time so far. */
interface CheckpointProgress {
  epoch: number;
  step: number;
  elapsedSeconds: number;
}

export interface TrainSummary {
  runDir: string;
  backend: string;
  epochs: number;
  finalAccuracy: number;
  bestAccuracy: number;
  trainingSeconds: number;
  targetAccuracy: number | null;
  targetReached: { epoch: number; seconds: number } | null;
}

const CHECKPOINT_FILE = 'trainer.ckpt';
const PROGRESS_FILE = 'progress.json';

function readProgress(paths: RunPaths): CheckpointProgress | null {
  const file = join(paths.checkpoint, PROGRESS_FILE);
  if (!existsSync(file) || !existsSync(join(paths.checkpoint, CHECKPOINT_FILE))) return null;
  return JSON.parse(readFileSync(file, 'utf8')) as CheckpointProgress;
}

/** Resolves the run to continue: its stored config with the few flags a resume may change. */
function resumeConfig(dir: string, flags: ReturnType<typeof parseTrainFlags>): { config: TrainConfig; paths: RunPaths; progress: CheckpointProgress } {
  const changed = [...flags.explicit].filter((f) => !RESUMABLE_FLAGS.has(f));
  if (changed.length > 0) {
    throw new FlagError(
      'train',
      changed.map((flag) => ({ flag, message: `cannot be changed when resuming (the run's config.json fixes it); with --resume only --epochs, --backend, --statistics-worker, --target-accuracy and --json are allowed` })),
    );
  }
  const stored = readConfig(dir);
  const paths = runPaths(dir);
  const progress = readProgress(paths);
  if (progress === null) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `Run ${dir} has no complete checkpoint to resume from.`, {
      expected: `${join(paths.checkpoint, CHECKPOINT_FILE)} and ${PROGRESS_FILE}`,
      received: 'none (the run stopped before its first epoch ended)',
      fix: 'start a new run instead',
    });
  }
  const config: TrainConfig = { ...stored.config };
  if (flags.explicit.has('epochs')) config.epochs = flags.config.epochs;
  if (flags.explicit.has('backend')) config.backend = flags.config.backend;
  if (flags.explicit.has('statistics-worker')) config.statisticsWorker = flags.config.statisticsWorker;
  if (flags.explicit.has('target-accuracy')) config.targetAccuracy = flags.config.targetAccuracy;
  if (config.epochs <= progress.epoch) {
    throw new FlagError('train', [{ flag: 'epochs', message: `the run already finished ${progress.epoch} epochs; pass --epochs greater than ${progress.epoch} to continue it` }]);
  }
  return { config, paths, progress };
}

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

  const resumed = flags.resume === null ? null : resumeConfig(flags.resume, flags);
  const config = resumed?.config ?? flags.config;

  const selection = await chooseBackend(config.backend);
  const backendLines = describeSelection(selection);
  if (json) emit({ event: 'backend', name: selection.name, reason: selection.reason, attempts: selection.attempts }, null);
  else out.stderr(`${backendLines.join('\n')}\n`);

  const data = prepareData(await loadDataset(config.dataset, config.dataDir ?? undefined), config);
  const norm = computeNormalisation(data.train, data.channels);
  if (data.train.count < config.batch) {
    throw new FlagError('train', [{ flag: 'batch', message: `${config.batch} is larger than the ${data.train.count} training examples; pass a smaller --batch` }]);
  }
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
  if (json) emit({ event: 'statistics', worker: statistics.worker !== undefined, reason: statistics.line }, null);
  else out.stderr(`${statistics.line}\n`);
  let trainer: Trainer | null = null;
  try {
    trainer = new Trainer({ model, loss: 'categoricalCrossentropy', seed: config.seed, metrics: ['accuracy'], ...makeComposition(config, stepsPerEpoch, statistics.worker) });
    const paths = resumed?.paths ?? createRunDir(config.runsDir, config.name);
    let startEpoch = 0;
    let elapsed = 0;
    let records: EpochRecord[] = [];
    if (resumed) {
      await loadCheckpoint(trainer, join(paths.checkpoint, CHECKPOINT_FILE));
      startEpoch = resumed.progress.epoch;
      elapsed = resumed.progress.elapsedSeconds;
      // Epochs logged after the last complete checkpoint are redone, so drop them from the log.
      records = readMetrics(paths.metrics).filter((r) => r.epoch <= startEpoch);
      writeFileSync(paths.metrics, records.map((r) => `${JSON.stringify(r)}\n`).join(''));
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

    const header = `run ${paths.dir}\n${config.dataset} (${data.train.count} train / ${data.test.count} test, ${data.source}), ${config.model} (${countParams(model)} parameters), ${config.optimizer} [curvature ${config.curvature}, projection ${config.projection}], batch ${config.batch}, lr ${config.lr}${resumed ? `, resuming after epoch ${startEpoch}` : ''}`;
    emit({ event: 'start', runDir: paths.dir, config, backend: selection.name, resumedFromEpoch: resumed ? startEpoch : null, stepsPerEpoch }, header);

    const progress = new ProgressBar({ isTTY: out.stderrIsTTY, columns: out.stderrColumns, write: (s) => out.stderr(s) });
    let targetHit = config.targetAccuracy === null ? null : firstReaching(records, config.targetAccuracy);
    for (let epoch = startEpoch + 1; epoch <= config.epochs; epoch++) {
      // Seeded by epoch, so a resumed run sees exactly the order an uninterrupted one would.
      const batches = epochBatches(data.train.count, config.batch, config.seed * 100003 + epoch);
      let lossSum = 0;
      let lossCount = 0;
      let seen = 0;
      const t0 = performance.now();
      for (let i = 0; i < batches.length; i++) {
        const b = makeBatch(data, data.train, batches[i], norm);
        let result: Awaited<ReturnType<Trainer['step']>>;
        try {
          // The batch stays alive until the step's promise settles (the step awaits device reads).
          result = await trainer.step(b.x, b.y);
        } finally {
          tf.dispose([b.x, b.y]);
        }
        if (Number.isFinite(result.loss)) {
          lossSum += result.loss * result.batchSize;
          lossCount += result.batchSize;
        }
        seen += result.batchSize;
        const secs = (performance.now() - t0) / 1000;
        const rate = seen / Math.max(secs, 1e-9);
        progress.update(
          { epoch, epochs: config.epochs, step: i + 1, steps: batches.length, loss: lossCount > 0 ? lossSum / lossCount : Number.NaN, samplesPerSecond: rate },
          (secs / (i + 1)) * (batches.length - i - 1),
        );
        // Lets signals and stream writes through on long epochs.
        if (i % 20 === 19) await new Promise((r) => setImmediate(r));
      }
      progress.done();
      const epochSeconds = (performance.now() - t0) / 1000;
      elapsed += epochSeconds;
      const test = await evaluate(trainer, data, norm);
      const record: EpochRecord = {
        epoch,
        step: trainer.stepCount,
        trainLoss: lossCount > 0 ? lossSum / lossCount : Number.NaN,
        testLoss: test.loss,
        testAccuracy: test.accuracy,
        epochSeconds,
        elapsedSeconds: elapsed,
        samplesPerSecond: seen / epochSeconds,
        lr: trainer.currentLearningRate(),
        time: new Date().toISOString(),
      };
      records.push(record);
      appendMetrics(paths.metrics, record);
      writeMetricsCsv(paths.csv, records);
      const svg = await renderRunPlot(records, `${config.name}: ${config.dataset} / ${config.model} / ${config.optimizer}`);
      writeFileSync(paths.plotSvg, svg);
      try {
        writeFileSync(paths.plotPng, await svgToPng(svg));
      } catch {
        // The PNG is optional (resvg's native binding is not part of the bundle); plot.svg is written.
      }
      mkdirSync(paths.checkpoint, { recursive: true });
      await saveCheckpoint(trainer, join(paths.checkpoint, CHECKPOINT_FILE));
      const ckpt: CheckpointProgress = { epoch, step: trainer.stepCount, elapsedSeconds: elapsed };
      writeFileSync(join(paths.checkpoint, PROGRESS_FILE), `${JSON.stringify(ckpt)}\n`);
      emit(
        { event: 'epoch', ...record },
        `epoch ${epoch}/${config.epochs}  train loss ${record.trainLoss.toFixed(4)}  test loss ${test.loss.toFixed(4)}  test acc ${(100 * test.accuracy).toFixed(2)}%  ${epochSeconds.toFixed(1)} s  ${Math.round(record.samplesPerSecond)} samples/s`,
      );
      if (config.targetAccuracy !== null && targetHit === null && test.accuracy >= config.targetAccuracy) {
        targetHit = { epoch, seconds: elapsed };
        emit({ event: 'target', target: config.targetAccuracy, ...targetHit }, `target accuracy ${(100 * config.targetAccuracy).toFixed(2)}% reached at epoch ${epoch} after ${elapsed.toFixed(1)} s of training`);
      }
    }
    const last = records[records.length - 1];
    const summary: TrainSummary = {
      runDir: paths.dir,
      backend: selection.name,
      epochs: last?.epoch ?? 0,
      finalAccuracy: last?.testAccuracy ?? Number.NaN,
      bestAccuracy: Math.max(...records.map((r) => r.testAccuracy)),
      trainingSeconds: elapsed,
      targetAccuracy: config.targetAccuracy,
      targetReached: targetHit,
    };
    writeFileSync(paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
    const targetText =
      config.targetAccuracy === null ? '' : targetHit ? `, target reached at epoch ${targetHit.epoch} (${targetHit.seconds.toFixed(1)} s)` : ', target not reached';
    emit(
      { event: 'end', ...summary },
      `done: final test acc ${(100 * summary.finalAccuracy).toFixed(2)}%, best ${(100 * summary.bestAccuracy).toFixed(2)}%, ${elapsed.toFixed(1)} s of training${targetText}\nwrote ${paths.dir}/{config.json,metrics.jsonl,metrics.csv,plot.svg,summary.json,checkpoint/}`,
    );
    return 0;
  } finally {
    if (trainer) trainer.dispose();
    model.dispose();
    await statistics.worker?.terminate();
  }
}
