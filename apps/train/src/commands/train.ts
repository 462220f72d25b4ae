/**
 * `natgrad train`: picks the backend, loads the dataset, builds the model and the Trainer
 * composition, and trains with Trainer.fitDataset; the run folder (lock, evaluation, metrics,
 * plot, checkpoints, summary) is kept by the RunRecorder callbacks in ../run/. `--resume <run-dir>`
 * takes the folder's lock, validates config.json (with the flags' validator) and the checkpoint
 * (its checksums and the progress stored inside it) before writing anything, and continues from the
 * next epoch with the same data order (shuffling is seeded by epoch).
 *
 * Under mpirun, mpiexec or srun (--distributed auto|mpi|off, docs/distributed.md) every rank runs
 * this command: each pins its GPU from the launcher's local rank before a backend loads, joins the
 * MPI world, and trains its shard of every batch through the Trainer's communicator. Rank 0 owns the
 * run folder (lock, config, metrics, checkpoints, summary) and the output; the other ranks write
 * nothing and print only their own errors. Every step that may fail on some ranks only ends with an
 * agreement (../distributed/agreement.ts), so all ranks exit with the same status; an error outside
 * those steps ends the whole job (the launcher tears the other ranks down) instead of hanging it.
 *
 * Exit status: 0 done, 1 error, 2 bad flags, 3 training diverged (an epoch skipped every step, or a
 * non-finite loss), 4 the run folder is in use by another process, 128 + n when stopped by signal n
 * (130 for Ctrl-C; the message says how to resume).
 */
import { availableParallelism } from 'node:os';
import type { Communicator } from '@natgrad/core';
import { Trainer } from '@natgrad/trainer';
import * as tf from '@tensorflow/tfjs';
import { chooseBackend, describeSelection } from '../backend';
import { PeerFailedError, broadcastJson, checkSameArguments, differentArgumentsError, exitStatusOf, isAgreed, markAgreed, together } from '../distributed/agreement';
import { checkJobShape, coresPerRank, launcherLocalSize, launcherWorldRank, pinDevice } from '../distributed/launch';
import { loadMpi, wantsMpi } from '../distributed/mpi';
import { type ImageDataset, computeNormalisation, epochBatches, evalBatches, makeBatch, subsetSplit } from '../data/dataset';
import { loadDataset } from '../data/load';
import { FlagError } from '../flags/flag-error';
import { type TrainConfig, type TrainInvocation, parseTrainFlags, trainHelp } from '../flags/train-flags';
import { buildModel, countParams } from '../models/index';
import { makeComposition } from '../optimizer';
import { estimateGramMacs, placeStatistics } from '../statistics-worker';
import { guardInterrupts, type StopTarget } from '../run/interrupts';
import { ProgressBar } from '../run/progress';
import { type Resumed, openResume } from '../run/resume';
import { type RunPaths, createRunDir, runPaths, writeConfig, writeTextAtomic } from '../run/run-dir';
import { RunLockedError, type RunLock, acquireRunLock } from '../run/run-lock';
import { type RunSummary, RunRecorder } from '../run/run-recorder';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { CHECKPOINT_FILE, removeStaleTemps, restoreRun, restoreRunCollective } from '../run/run-state';
import type { Output } from './output';
import { report } from './report';
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

/**
 * Where this process stands: one process, or rank `rank` of `size` in an MPI world. `phase` runs a
 * step that may fail on some ranks only; in a world every rank learns of a failure and stops with
 * the same status (../distributed/agreement.ts), in one process it just runs the step.
 */
interface Job {
  world: Communicator | null;
  rank: number;
  size: number;
  phase<T>(what: string, step: () => Promise<T> | T): Promise<T>;
  /** Cores this process may use (the machine's, shared by the ranks on it). */
  cores: number;
  /** How this rank chose its device, for the start event (null in one process). */
  device: string | null;
}

const ONE_PROCESS: Job = { world: null, rank: 0, size: 1, phase: async (_what, step) => step(), cores: availableParallelism(), device: null };

/**
 * Test loss and accuracy. In a world each rank evaluates a contiguous shard of the test set and the
 * sums are all-reduced (float64), so every rank gets the same numbers and the evaluation takes 1/N
 * of the time; in one process the shard is the whole set, in batches of 500 as before.
 */
async function evaluate(trainer: Trainer, data: ImageDataset, norm: ReturnType<typeof computeNormalisation>, job: Job): Promise<{ loss: number; accuracy: number }> {
  let loss = 0;
  let correct = 0;
  const from = Math.floor((job.rank * data.test.count) / job.size);
  const to = Math.floor(((job.rank + 1) * data.test.count) / job.size);
  for (const local of evalBatches(to - from, 500)) {
    const idx = from === 0 ? local : local.map((i) => i + from);
    const b = makeBatch(data, data.test, idx, norm);
    try {
      const logs = await trainer.evaluate(b.x, b.y, { batchSize: 500 });
      loss += logs.loss * b.size;
      correct += logs.acc * b.size;
    } finally {
      tf.dispose([b.x, b.y]);
    }
  }
  if (job.world !== null) [loss, correct] = await job.world.allreduceScalars([loss, correct], 'sum');
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

export async function trainCommand(argv: string[], out: Output, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  let flags: TrainInvocation;
  try {
    flags = parseTrainFlags(argv);
  } catch (err) {
    // Under a launcher every rank parses the same command line: rank 0 reports a bad flag, the
    // other ranks leave with the same status and add nothing.
    if (err instanceof FlagError && (launcherWorldRank(env) ?? 0) > 0) return 2;
    throw err;
  }
  if (flags.help) {
    if ((launcherWorldRank(env) ?? 0) === 0) out.stdout(trainHelp());
    return 0;
  }
  if (await wantsMpi(flags.distributed, env)) return trainRank(flags, argv, out, env);
  return trainProcess(flags, out, ONE_PROCESS);
}

/** One process's part: its interrupt handling and run lock around train(). Quiet on ranks other than 0. */
async function trainProcess(flags: TrainInvocation, out: Output, job: Job): Promise<number> {
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
  // Ranks other than 0 have no run folder to name: they stop silently (rank 0 says how to resume).
  const unguard = job.rank === 0 ? guardInterrupts(target) : guardInterrupts(target, undefined, () => {});
  try {
    return await train(flags, out, emit, warn, target, (l) => {
      lock = l;
    }, job);
  } catch (err) {
    if (!(err instanceof RunLockedError) || job.world !== null) throw err;
    out.stderr(`natgrad: ${err.message}\n`);
    if (json) out.stdout(`${JSON.stringify({ event: 'error', code: err.code, message: err.message, expected: err.expected, received: err.received, fix: err.fix })}\n`);
    return err.exitCode;
  } finally {
    unguard();
    (lock as RunLock | null)?.release();
  }
}

/** Output of the ranks other than 0: nothing (their own errors go to the real stderr). */
const QUIET: Output = { stdout: () => {}, stderr: () => {}, stderrIsTTY: false };

/**
 * One rank of `mpirun -np N natgrad train`: pins its device, joins the world, checks that every
 * rank runs the same command line, trains, and leaves with the status all ranks agree on (then
 * MPI_Finalize). An error outside the agreed steps is this rank's alone: it is reported and the job
 * is ended from here (MPI_Abort when the binding has it, else exiting, which mpirun treats as an
 * abort of the job), so the other ranks are torn down by the launcher instead of hanging.
 */
async function trainRank(flags: TrainInvocation, argv: string[], out: Output, env: NodeJS.ProcessEnv): Promise<number> {
  const mpi = await loadMpi();
  // Before any backend is loaded: tfjs-node-gpu reads CUDA_VISIBLE_DEVICES once, when it starts.
  const pin = pinDevice(mpi.launcherLocalRank(env), env);
  Object.assign(env, pin.set);
  const world = await mpi.initMpi();
  return trainOnWorld(flags, argv, out, env, world, pin.line);
}

/**
 * The rank's run on `world` (exported for tests, which pass ranks of createInProcessGroup and an
 * `abort` that does not end the test process). Returns the agreed exit status after disposing `world`.
 */
export async function trainOnWorld(
  flags: TrainInvocation,
  argv: string[],
  out: Output,
  env: NodeJS.ProcessEnv,
  world: Communicator,
  device: string | null,
  abort: (world: Communicator, status: number, error: unknown) => number = abortJob,
): Promise<number> {
  const rank0 = world.rank === 0;
  const prefix = rank0 ? 'natgrad: ' : `natgrad: rank ${world.rank}/${world.size}: `;
  const job: Job = {
    world,
    rank: world.rank,
    size: world.size,
    phase: (what, step) => together(world, what, step),
    cores: coresPerRank(availableParallelism(), launcherLocalSize(env), world.size),
    device,
  };
  let status: number;
  try {
    const differ = await checkSameArguments(world, argv);
    if (differ !== null) {
      throw markAgreed(rank0 || differ.rank === world.rank ? differentArgumentsError(differ.rank, differ.rank0, rank0 ? null : argv) : new PeerFailedError(2, 'checking the arguments'));
    }
    status = await trainProcess(flags, rank0 ? out : QUIET, job);
  } catch (err) {
    if (!isAgreed(err)) {
      report(err, out, rank0 && flags.json, prefix);
      return abort(world, exitStatusOf(err), err);
    }
    if (!(err instanceof PeerFailedError)) report(err, out, rank0 && flags.json, prefix);
    status = exitStatusOf(err);
  }
  const [agreed] = await world.allreduceScalars([status], 'max');
  await world.dispose();
  return agreed;
}

/**
 * Ends the whole job from this rank: Communicator.abort (MPI_Abort) where the binding has it, then
 * exit with `status`; a rank that exits without MPI_Finalize makes mpirun (and srun, Hydra) end
 * every other rank and report the job failed, so no peer waits for this one forever.
 */
function abortJob(world: Communicator, status: number, error: unknown): never {
  try {
    world.abort?.(`natgrad train: rank ${world.rank} failed: ${error instanceof Error ? error.message.split('\n')[0] : String(error)}`);
  } finally {
    process.exit(status);
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
  job: Job,
): Promise<number> {
  // Rank 0 alone reads and writes the run folder; `writer` guards every file operation below.
  const writer = job.rank === 0;
  const { world } = job;
  let runLock: RunLock | null = null;
  // Rank 0 opens the run to resume (its lock, every file validated); the other ranks receive what it found.
  const opened = await job.phase('opening the run to resume', async () => {
    if (!writer || flags.resume === null) return null;
    const o = await openResume(flags.resume, flags);
    runLock = o.lock;
    locked(o.lock);
    if (o.lock.replaced !== null) {
      warn({ event: 'warning', kind: 'stale-lock', previous: o.lock.replaced }, `natgrad: note: took over the stale lock of pid ${o.lock.replaced.pid} on ${o.lock.replaced.host} (that process is gone)`);
    }
    target.dir = o.resumed.paths.dir;
    target.checkpointEpoch = o.resumed.progress.epoch;
    return o.resumed;
  });
  const resumed: Resumed | null = world === null ? opened : await broadcastJson(world, opened);
  const config = resumed?.config ?? flags.config;
  if (job.size > 1) await job.phase('checking the batch against the ranks', () => (writer ? checkJobShape(config, job.size) : undefined));

  const selection = await job.phase('loading the backend', () => chooseBackend(config.backend));
  if (world !== null) {
    // Ranks on different backends would compute different floats and drift apart.
    const first = await broadcastJson(world, selection.name);
    await job.phase('agreeing on the backend', () => {
      if (selection.name !== first) {
        throw new FlagError('train', [
          { flag: 'backend', message: `rank ${job.rank} loaded ${selection.name} (${selection.reason}) but rank 0 loaded ${first}; every rank must train on the same backend: pass --backend ${first}` },
        ]);
      }
    });
  }
  const backendLines = describeSelection(selection);
  if (flags.json) emit({ event: 'backend', name: selection.name, reason: selection.reason, attempts: selection.attempts }, null);
  else out.stderr(`${backendLines.join('\n')}\n`);

  const data = await job.phase('loading the dataset', async () => {
    const d = prepareData(await loadDataset(config.dataset, config.dataDir ?? undefined), config);
    if (d.train.count < config.batch) {
      throw new FlagError('train', [{ flag: 'batch', message: `${config.batch} is larger than the ${d.train.count} training examples; pass a smaller --batch` }]);
    }
    // Before anything is allocated: a model too large for the backend fails inside tfjs with
    // "memory access out of bounds"; this names the flag to lower (the flags layer can only check
    // this when --backend names one, here the chosen backend is known).
    checkTrainingMemory(config, [d.height, d.width, d.channels], d.numClasses, selection.name);
    return d;
  });
  const norm = computeNormalisation(data.train, data.channels);
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
  // The Gram products of this rank's shard only; the cores are those this rank shares with no other.
  const statistics = await placeStatistics(config, selection.name, estimateGramMacs(model, config.batch / job.size), job.cores);
  if (flags.json) emit({ event: 'statistics', worker: statistics.worker !== undefined, reason: statistics.line }, null);
  else out.stderr(`${statistics.line}\n`);
  let trainer: Trainer | null = null;
  try {
    const t0 = await job.phase('building the trainer', () => {
      const composition = makeComposition(config, stepsPerEpoch, statistics.worker);
      // A world of one trains exactly as one process does.
      return new Trainer({ model, loss: 'categoricalCrossentropy', seed: config.seed, metrics: ['accuracy'], ...composition, ...(world === null ? {} : { communicator: world }) });
    });
    trainer = t0;
    let paths: RunPaths;
    if (resumed) {
      paths = runPaths(resumed.paths.dir);
      if (world === null) {
        await restoreRun(t0, paths.checkpoint, resumed.progress);
      } else {
        // Rank 0 reads the bytes it validated; the restore itself is collective (it broadcasts them).
        const bytes = await job.phase('reading the checkpoint', async () => (writer ? readCheckpointBytes(paths.checkpoint) : null));
        await job.phase('restoring the checkpoint', () => restoreRunCollective(t0, paths.checkpoint, bytes, resumed.progress));
      }
      // Validated: from here on the run folder is written.
      await job.phase('rewriting metrics.jsonl', () => {
        if (!writer) return;
        writeTextAtomic(paths.metrics, resumed.records.map((r) => `${JSON.stringify(r)}\n`).join(''));
        removeStaleTemps(paths.dir, paths.checkpoint);
      });
    } else {
      const dir = await job.phase('creating the run folder', () => {
        if (!writer) return null;
        const created = createRunDir(config.runsDir, config.name);
        runLock = acquireRunLock(created.dir);
        locked(runLock);
        target.dir = created.dir;
        return created.dir;
      });
      paths = runPaths(world === null ? (dir as string) : await broadcastJson(world, dir));
    }
    await job.phase('writing config.json', () => {
      if (!writer) return;
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
        // A run's ranks may change from one resume to the next; this is the latest process count.
        ...(world === null ? {} : { ranks: world.size, communication: world.engine }),
      },
    });
    });

    const startEpoch = resumed?.progress.epoch ?? 0;
    const ranks = world === null ? '' : `, ${world.size} ranks (${world.engine}; batch ${config.batch / world.size} per rank)`;
    const header = `run ${paths.dir}\n${config.dataset} (${data.train.count} train / ${data.test.count} test, ${data.source}), ${config.model} (${countParams(model)} parameters), ${config.optimizer} [curvature ${config.curvature}, projection ${config.projection}], batch ${config.batch}${ranks}, lr ${config.lr}${resumed ? `, resuming after epoch ${startEpoch}` : ''}`;
    emit(
      { event: 'start', runDir: paths.dir, config, backend: selection.name, resumedFromEpoch: resumed ? startEpoch : null, stepsPerEpoch, ...(world === null ? {} : { ranks: world.size, communication: world.engine, device: job.device }) },
      header,
    );

    const t = trainer;
    const remedy = config.curvature === 'none' ? `lower --lr (now ${config.lr})` : `lower --lr (now ${config.lr}) or raise --damping (now ${config.damping})`;
    const recorder = new RunRecorder({
      trainer: t,
      paths,
      lock: runLock,
      epochs: config.epochs,
      stepsPerEpoch,
      targetAccuracy: config.targetAccuracy,
      plotTitle: `${config.name}: ${config.dataset} / ${config.model} / ${config.optimizer}`,
      start: resumed?.progress ?? null,
      startSeconds: resumed?.elapsedSeconds ?? 0,
      records: resumed?.records ?? [],
      evaluate: () => evaluate(t, data, norm, job),
      progressBar: new ProgressBar({ isTTY: out.stderrIsTTY, columns: out.stderrColumns, write: (s) => out.stderr(s) }),
      emit,
      warn,
      remedy,
      onCheckpoint: (epoch) => {
        target.checkpointEpoch = epoch;
      },
      role: writer ? 'writer' : 'follower',
      agree: world === null ? undefined : async (stalled) => (await world.allreduceScalars([stalled ? 1 : 0], 'max'))[0] > 0,
    });
    // Every rank iterates the same global batches; the trainer takes this rank's shard of each.
    await t.fitDataset(epochDataset(t, data, norm, config), { epochs: config.epochs, callbacks: recorder });
    const summary = await job.phase('writing summary.json', () => recorder.finish(selection.name));
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

/** checkpoint/trainer.ckpt's bytes (rank 0, after openResume validated them). */
async function readCheckpointBytes(checkpointDir: string): Promise<Uint8Array> {
  const buf = await readFile(join(checkpointDir, CHECKPOINT_FILE));
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
