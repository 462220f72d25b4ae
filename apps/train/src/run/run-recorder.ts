/**
 * The run folder as Trainer.fit callbacks: the progress bar during an epoch, and after it the test
 * evaluation, metrics.jsonl/.csv, the plot, the checkpoint (with the run's progress inside, and
 * best.ckpt when the test accuracy improved) and the epoch line. The epoch loop itself is the
 * library's (Trainer.fitDataset), so the reference app runs exactly what library users run.
 *
 * Divergence is reported, never saved: skipped steps and damping boosts go into the epoch line, the
 * metrics and summary.json; an epoch that skipped most of its steps prints a warning; an epoch that
 * skipped every step, or ended with a non-finite train or test loss, is not checkpointed and stops
 * the run with status "diverged" (natgrad train exits 3).
 *
 * In a distributed run every rank has a recorder: rank 0's writes the run folder (role 'writer'),
 * the others' ('follower') make the same collective calls at the same points (the evaluation's
 * reductions, the checkpoint's gather of the curvature shards) and write nothing; `agree` makes the
 * verdict on each epoch the job's, so no rank stops while another goes on into the next step.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { NatgradError } from '@natgrad/core';
import type { Logs, Trainer, TrainerCallbacks } from '@natgrad/trainer';
import { type EpochRecord, appendMetrics, firstReaching, writeMetricsCsv } from './metrics';
import { renderRunPlot, svgToPng } from './plot';
import type { ProgressBar } from './progress';
import type { RunPaths } from './run-dir';
import { writeTextAtomic } from './run-dir';
import type { RunLock } from './run-lock';
import { BEST_CHECKPOINT_FILE, CHECKPOINT_FILE, PROGRESS_MIRROR_FILE, type RunProgress, saveRun } from './run-state';

export type Emit = (event: Record<string, unknown>, text: string | null) => void;

export interface RecorderOptions {
  trainer: Trainer;
  paths: RunPaths;
  /** The run folder's lock; null on a follower, which never writes. */
  lock: RunLock | null;
  epochs: number;
  stepsPerEpoch: number;
  targetAccuracy: number | null;
  plotTitle: string;
  /** The checkpoint resumed from (null for a new run). */
  start: RunProgress | null;
  /** Training seconds before this process (from metrics.jsonl at the checkpoint's epoch). */
  startSeconds: number;
  /** metrics.jsonl records up to the start. */
  records: EpochRecord[];
  evaluate: () => Promise<{ loss: number; accuracy: number }>;
  progressBar: ProgressBar;
  emit: Emit;
  /** What to change when steps are skipped (e.g. "lower --lr or raise --damping"). */
  remedy: string;
  /** Diagnostics that are not results (stderr in text mode). */
  warn: (event: Record<string, unknown>, text: string) => void;
  /** Told after each checkpoint, so an interrupt names the epoch it resumes from. */
  onCheckpoint?: (epoch: number) => void;
  /** 'writer' (default) writes the run folder; 'follower' (ranks other than 0) only takes part. */
  role?: 'writer' | 'follower';
  /**
   * Collective: each rank's "this epoch stopped the run" in, whether any rank's did out. Absent in
   * a single process.
   */
  agree?: (stalled: boolean) => Promise<boolean>;
}

/** Why a run stopped making progress, or null. */
export function divergence(record: Pick<EpochRecord, 'trainLoss' | 'testLoss'>, skipped: number, steps: number): string | null {
  if (steps > 0 && skipped >= steps) return `every step of the epoch was skipped (${skipped}/${steps}: non-finite loss, gradient or update)`;
  if (!Number.isFinite(record.trainLoss)) return `the train loss is ${record.trainLoss}`;
  if (!Number.isFinite(record.testLoss)) return `the test loss is ${record.testLoss}`;
  return null;
}

export interface RunSummary {
  runDir: string;
  backend: string;
  /** done: every epoch ran; diverged: training stopped making progress (exit status 3). */
  status: 'done' | 'diverged';
  divergence: string | null;
  epochs: number;
  finalAccuracy: number;
  bestAccuracy: number;
  /** The epoch whose checkpoint is checkpoint/best.ckpt (null when no epoch was checkpointed). */
  bestEpoch: number | null;
  bestCheckpoint: string | null;
  skippedSteps: number;
  dampingBoosts: number;
  trainingSeconds: number;
  targetAccuracy: number | null;
  targetReached: { epoch: number; seconds: number } | null;
}

export class RunRecorder implements TrainerCallbacks {
  readonly records: EpochRecord[];
  elapsed: number;
  best: RunProgress['best'];
  diverged: string | null = null;
  targetHit: { epoch: number; seconds: number } | null;
  private epochStart = 0;
  private lossSum = 0;
  private lossCount = 0;
  private seen = 0;
  private boosts = 0;
  private damping: number | null = null;

  constructor(private readonly o: RecorderOptions) {
    this.records = [...o.records];
    this.elapsed = o.startSeconds;
    this.best = o.start?.best ?? null;
    this.targetHit = o.targetAccuracy === null ? null : firstReaching(this.records, o.targetAccuracy);
  }

  onEpochBegin(): void {
    this.epochStart = performance.now();
    this.lossSum = 0;
    this.lossCount = 0;
    this.seen = 0;
    this.boosts = 0;
  }

  async onBatchEnd(batch: number, logs?: Logs): Promise<void> {
    const l = logs ?? {};
    const size = l.size ?? 0;
    if (l.skipped === 1) {
      // A skipped step raises the damping (onNonFiniteStep), up to the schedule's cap.
      if (l.damping !== undefined) this.boosts++;
    } else if (Number.isFinite(l.loss)) {
      this.lossSum += l.loss * size;
      this.lossCount += size;
    }
    if (l.damping !== undefined) this.damping = l.damping;
    this.seen += size;
    const secs = (performance.now() - this.epochStart) / 1000;
    const steps = this.o.stepsPerEpoch;
    this.o.progressBar.update(
      {
        epoch: this.o.trainer.epoch + 1,
        epochs: this.o.epochs,
        step: batch + 1,
        steps,
        loss: this.lossCount > 0 ? this.lossSum / this.lossCount : Number.NaN,
        samplesPerSecond: this.seen / Math.max(secs, 1e-9),
      },
      (secs / (batch + 1)) * (steps - batch - 1),
    );
    // Step reads on wasm/cpu resolve as microtasks: yield a macrotask so signals and the launcher
    // watch get through during long epochs.
    await new Promise((r) => setImmediate(r));
  }

  async onEpochEnd(index: number, logs?: Logs): Promise<void> {
    const { o } = this;
    const epoch = index + 1;
    o.progressBar.done();
    const epochSeconds = (performance.now() - this.epochStart) / 1000;
    this.elapsed += epochSeconds;
    const test = await o.evaluate();
    const skipped = logs?.skippedSteps ?? 0;
    const boosts = logs?.dampingBoosts ?? this.boosts;
    const record: EpochRecord = {
      epoch,
      step: o.trainer.stepCount,
      trainLoss: logs?.loss ?? Number.NaN,
      testLoss: test.loss,
      testAccuracy: test.accuracy,
      epochSeconds,
      elapsedSeconds: this.elapsed,
      samplesPerSecond: this.seen / epochSeconds,
      lr: logs?.lr ?? o.trainer.currentLearningRate(),
      time: new Date().toISOString(),
      skippedSteps: skipped,
      dampingBoosts: boosts,
      damping: logs?.damping ?? this.damping,
    };
    let stalled = divergence(record, skipped, o.stepsPerEpoch);
    const writer = o.role !== 'follower';
    this.records.push(record);
    if (writer) {
      // Nothing is written by a process that lost the run folder to another writer.
      o.lock?.verify();
      appendMetrics(o.paths.metrics, record);
      writeMetricsCsv(o.paths.csv, this.records);
      const svg = await renderRunPlot(this.records, o.plotTitle);
      writeFileSync(o.paths.plotSvg, svg);
      try {
        writeFileSync(o.paths.plotPng, await svgToPng(svg));
      } catch {
        // The PNG is optional (resvg's native binding is not part of the bundle); plot.svg is written.
      }
    }
    if (stalled === null) {
      const isBest = this.best === null || test.accuracy > this.best.testAccuracy;
      const best = isBest ? { epoch, testAccuracy: test.accuracy } : this.best;
      const progress: RunProgress = { epoch, step: o.trainer.stepCount, best };
      try {
        // On a follower this is only its part of the collective checkpoint (nothing is written).
        await saveRun(o.trainer, o.paths.checkpoint, progress, isBest, () => o.onCheckpoint?.(epoch), writer);
      } catch (err) {
        // The trainer refuses to save non-finite state: that is divergence too, with the tensors named.
        if (!(err instanceof NatgradError) || err.code !== 'NON_FINITE_INPUT') throw err;
        stalled = `the trainer state holds non-finite values (${err.received})`;
      }
      if (stalled === null) {
        this.best = best;
        if (writer) {
          writeTextAtomic(join(o.paths.checkpoint, PROGRESS_MIRROR_FILE), `${JSON.stringify({ ...progress, elapsedSeconds: this.elapsed, note: `a copy of the progress stored inside ${CHECKPOINT_FILE}; natgrad never reads this file` })}\n`);
        }
      }
    }
    // Every rank stops after the same epoch: one whose state failed a check stops them all.
    if (o.agree !== undefined && (await o.agree(stalled !== null)) && stalled === null) {
      stalled = 'another rank found its state non-finite (its error names the tensors)';
    }
    const health = skipped > 0 ? `  skipped ${skipped}/${o.stepsPerEpoch} steps${record.damping === null ? '' : `, damping raised ${boosts}x`}` : '';
    o.emit(
      { event: 'epoch', ...record },
      `epoch ${epoch}/${o.epochs}  train loss ${record.trainLoss.toFixed(4)}  test loss ${test.loss.toFixed(4)}  test acc ${(100 * test.accuracy).toFixed(2)}%  ${epochSeconds.toFixed(1)} s  ${Math.round(record.samplesPerSecond)} samples/s${health}`,
    );
    if (stalled !== null) {
      this.diverged = stalled;
      o.trainer.stopTraining = true;
      return;
    }
    if (skipped * 2 > o.stepsPerEpoch) {
      o.warn(
        { event: 'warning', kind: 'skipped-steps', epoch, skippedSteps: skipped, steps: o.stepsPerEpoch },
        `natgrad: warning: epoch ${epoch} skipped ${skipped} of ${o.stepsPerEpoch} steps (non-finite loss, gradient or update); the run is close to diverging: ${o.remedy}`,
      );
    }
    if (o.targetAccuracy !== null && this.targetHit === null && test.accuracy >= o.targetAccuracy) {
      this.targetHit = { epoch, seconds: this.elapsed };
      o.emit(
        { event: 'target', target: o.targetAccuracy, ...this.targetHit },
        `target accuracy ${(100 * o.targetAccuracy).toFixed(2)}% reached at epoch ${epoch} after ${this.elapsed.toFixed(1)} s of training`,
      );
    }
  }

  /** summary.json (written atomically) and what the end event reports. */
  finish(backend: string): RunSummary {
    const { o } = this;
    const last = this.records[this.records.length - 1];
    const diverged = this.diverged;
    const summary: RunSummary = {
      runDir: o.paths.dir,
      backend,
      status: diverged === null ? 'done' : 'diverged',
      divergence: diverged,
      epochs: last?.epoch ?? 0,
      finalAccuracy: last?.testAccuracy ?? Number.NaN,
      bestAccuracy: Math.max(...this.records.map((r) => r.testAccuracy)),
      bestEpoch: this.best?.epoch ?? null,
      bestCheckpoint: this.best === null ? null : join(o.paths.checkpoint, BEST_CHECKPOINT_FILE),
      skippedSteps: this.records.reduce((s, r) => s + (r.skippedSteps ?? 0), 0),
      dampingBoosts: this.records.reduce((s, r) => s + (r.dampingBoosts ?? 0), 0),
      trainingSeconds: this.elapsed,
      targetAccuracy: o.targetAccuracy,
      targetReached: this.targetHit,
    };
    if (o.role === 'follower') return summary;
    o.lock?.verify();
    writeTextAtomic(o.paths.summary, `${JSON.stringify(summary, null, 2)}\n`);
    return summary;
  }
}
