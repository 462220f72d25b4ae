/**
 * Learning-rate schedules. Following optax, a schedule is a plain `(step) => number` (step 0 is the
 * first optimisation step) and a number is a constant schedule, so schedules compose by wrapping:
 * `linearWarmup(cosineDecay({...}), { steps: 100 })`. The one stateful schedule,
 * ReduceLROnPlateau, is a small object driven by fit()'s epoch logs that contributes a multiplier
 * to whatever schedule is in use; its state is part of the checkpoint. The FOP paper's protocol
 * (arXiv 2508.13898, experiments section) scales the learning rate linearly with the batch size and
 * uses ReduceLROnPlateau, cosine or exponential decay depending on the task; all of them are here.
 */
import { NatgradError, type Schedule, type ScheduleFn, type StateDict, describeValue, resolveSchedule } from '@natgrad/core';

function requirePositive(value: unknown, what: string, allowZero = false): number {
  const ok = typeof value === 'number' && Number.isFinite(value) && (allowZero ? value >= 0 : value > 0);
  if (!ok) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
      expected: allowZero ? 'a finite number >= 0' : 'a finite number > 0',
      received: describeValue(value),
      fix: `pass a ${allowZero ? 'non-negative' : 'positive'} ${what}`,
    });
  }
  return value as number;
}

function requireFactor(value: unknown, what: string): number {
  if (typeof value !== 'number' || !(value > 0 && value <= 1)) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${what}.`, {
      expected: 'a number in (0, 1]',
      received: describeValue(value),
      fix: `pass a ${what} such as 0.1`,
    });
  }
  return value;
}

/** A constant learning rate. */
export function constant(value: number): ScheduleFn {
  return resolveSchedule(value, 'learning rate');
}

/** initial * factor^floor(step / every): the classic step decay (optionally at explicit milestones). */
export function stepDecay(options: { initial: number; factor: number; every?: number; milestones?: readonly number[] }): ScheduleFn {
  const initial = requirePositive(options.initial, 'initial learning rate', true);
  const factor = requireFactor(options.factor, 'step-decay factor');
  if (options.milestones !== undefined) {
    const ms = [...options.milestones];
    if (options.every !== undefined || ms.some((m, i) => !Number.isInteger(m) || m < 0 || (i > 0 && m <= ms[i - 1]))) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid step-decay milestones.', {
        expected: 'strictly increasing non-negative integer steps, and no `every` alongside them',
        received: options.every !== undefined ? 'both `every` and `milestones`' : `[${ms.join(', ')}]`,
        fix: 'pass either `every` or sorted `milestones`, e.g. [30, 60, 90]',
      });
    }
    return (step) => initial * factor ** ms.filter((m) => step >= m).length;
  }
  const every = requirePositive(options.every, 'step-decay interval `every`');
  return (step) => initial * factor ** Math.floor(step / every);
}

/**
 * Cosine decay from `initial` to `final` over `decaySteps` steps (Loshchilov & Hutter 2017, without
 * restarts), then constant at `final`.
 */
export function cosineDecay(options: { initial: number; decaySteps: number; final?: number }): ScheduleFn {
  const initial = requirePositive(options.initial, 'initial learning rate', true);
  const decaySteps = requirePositive(options.decaySteps, 'cosine decaySteps');
  const final = requirePositive(options.final ?? 0, 'final learning rate', true);
  return (step) => {
    const t = Math.min(step, decaySteps) / decaySteps;
    return final + 0.5 * (initial - final) * (1 + Math.cos(Math.PI * t));
  };
}

/** initial * rate^(step / decaySteps), or with `staircase` rate^floor(step / decaySteps). */
export function exponentialDecay(options: { initial: number; rate: number; decaySteps?: number; staircase?: boolean }): ScheduleFn {
  const initial = requirePositive(options.initial, 'initial learning rate', true);
  const rate = requireFactor(options.rate, 'exponential decay rate');
  const decaySteps = requirePositive(options.decaySteps ?? 1, 'exponential decaySteps');
  const staircase = options.staircase ?? false;
  return (step) => initial * rate ** (staircase ? Math.floor(step / decaySteps) : step / decaySteps);
}

/**
 * Linear warmup over `steps` steps from `startFactor` x the schedule's first value up to it, then
 * the wrapped schedule shifted by `steps` (so its decay starts after the warmup, as in Goyal et al.
 * 2017). Step k of the warmup uses startFactor + (1 - startFactor) * (k + 1) / steps, so the last
 * warmup step already reaches the full value.
 */
export function linearWarmup(schedule: Schedule, options: { steps: number; startFactor?: number }): ScheduleFn {
  const base = resolveSchedule(schedule, 'learning rate');
  const steps = requirePositive(options.steps, 'warmup steps');
  const startFactor = requirePositive(options.startFactor ?? 0, 'warmup startFactor', true);
  return (step) => {
    if (step >= steps) return base(step - steps);
    return base(0) * (startFactor + ((1 - startFactor) * (step + 1)) / steps);
  };
}

/**
 * The linear scaling rule (Goyal et al. 2017), used by the FOP paper's protocol: a learning rate
 * tuned at `baseBatchSize` is multiplied by batchSize / baseBatchSize.
 */
export function linearScaling(schedule: Schedule, options: { batchSize: number; baseBatchSize: number }): ScheduleFn {
  const base = resolveSchedule(schedule, 'learning rate');
  const ratio = requirePositive(options.batchSize, 'batchSize') / requirePositive(options.baseBatchSize, 'baseBatchSize');
  return (step) => base(step) * ratio;
}

export interface ReduceLROnPlateauOptions {
  /** Key of fit()'s epoch logs to watch (default 'val_loss', falling back to 'loss' when absent). */
  monitor?: string;
  /** 'min' for losses, 'max' for accuracies. */
  mode?: 'min' | 'max';
  /** Multiplier applied on each reduction (default 0.1). */
  factor?: number;
  /** Epochs without improvement before reducing (default 10). */
  patience?: number;
  /** Smallest change that counts as an improvement (absolute, default 1e-4). */
  minDelta?: number;
  /** Epochs to wait after a reduction before counting again (default 0). */
  cooldown?: number;
  /** Lower bound on the multiplier (the schedule's value is not known here), default 0. */
  minScale?: number;
}

/**
 * Keras-style ReduceLROnPlateau: after `patience` epochs without improvement of the monitored
 * value, the learning-rate multiplier is scaled by `factor`. The trainer multiplies its schedule by
 * `scale`; fit() calls onEpochEnd with the epoch logs.
 */
export class ReduceLROnPlateau {
  readonly monitor: string;
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly minDelta: number;
  readonly cooldown: number;
  readonly minScale: number;
  private _scale = 1;
  private best: number | null = null;
  private wait = 0;
  private cooldownLeft = 0;

  constructor(options: ReduceLROnPlateauOptions = {}) {
    this.monitor = options.monitor ?? 'val_loss';
    this.mode = options.mode ?? 'min';
    if (this.mode !== 'min' && this.mode !== 'max') {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid ReduceLROnPlateau mode.', {
        expected: "'min' or 'max'",
        received: describeValue(this.mode),
        fix: "use 'min' for losses and 'max' for accuracies",
      });
    }
    this.factor = options.factor ?? 0.1;
    if (!(this.factor > 0 && this.factor < 1)) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid ReduceLROnPlateau factor.', {
        expected: 'a number in (0, 1)',
        received: describeValue(this.factor),
        fix: 'pass a factor such as 0.1 or 0.5',
      });
    }
    this.patience = requirePositive(options.patience ?? 10, 'patience', true);
    this.minDelta = requirePositive(options.minDelta ?? 1e-4, 'minDelta', true);
    this.cooldown = requirePositive(options.cooldown ?? 0, 'cooldown', true);
    this.minScale = requirePositive(options.minScale ?? 0, 'minScale', true);
  }

  /** The current learning-rate multiplier. */
  get scale(): number {
    return this._scale;
  }

  /** Feeds one epoch's logs; returns true when the multiplier was reduced. */
  onEpochEnd(logs: Record<string, number>): boolean {
    const key = this.monitor in logs ? this.monitor : this.monitor === 'val_loss' ? 'loss' : this.monitor;
    const value = logs[key];
    if (typeof value !== 'number') {
      throw new NatgradError('INVALID_ARGUMENT', 'ReduceLROnPlateau cannot find its monitored value.', {
        expected: `epoch logs containing "${this.monitor}"`,
        received: `keys ${JSON.stringify(Object.keys(logs))}`,
        fix: 'pass validation data to fit() or set `monitor` to a key that fit() logs, e.g. "loss"',
      });
    }
    if (!Number.isFinite(value)) return false;
    if (this.cooldownLeft > 0) this.cooldownLeft--;
    const improved =
      this.best === null || (this.mode === 'min' ? value < this.best - this.minDelta : value > this.best + this.minDelta);
    if (improved) {
      this.best = value;
      this.wait = 0;
      return false;
    }
    if (this.cooldownLeft > 0) return false;
    this.wait++;
    if (this.wait < this.patience) return false;
    const next = Math.max(this._scale * this.factor, this.minScale);
    const reduced = next < this._scale;
    this._scale = next;
    this.wait = 0;
    this.cooldownLeft = this.cooldown;
    return reduced;
  }

  getState(): StateDict {
    return {
      kind: 'reduce-lr-on-plateau',
      version: 1,
      values: { scale: this._scale, best: this.best, wait: this.wait, cooldownLeft: this.cooldownLeft },
      tensors: {},
    };
  }

  setState(state: StateDict): void {
    if (state.kind !== 'reduce-lr-on-plateau' || state.version !== 1) {
      throw new NatgradError('STATE_MISMATCH', 'Cannot restore ReduceLROnPlateau from this state.', {
        expected: 'kind "reduce-lr-on-plateau", version 1',
        received: `kind ${describeValue(state.kind)}, version ${describeValue(state.version)}`,
        fix: 'restore from a state written by ReduceLROnPlateau.getState()',
      });
    }
    const v = state.values;
    this._scale = v.scale as number;
    this.best = v.best as number | null;
    this.wait = v.wait as number;
    this.cooldownLeft = v.cooldownLeft as number;
  }
}
