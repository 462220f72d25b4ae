/**
 * Per-step wall-clock timings by phase. Phases are measured with performance.now() around the
 * calls that launch them; on the synchronous cpu and wasm backends that is the compute time of the
 * phase, while on asynchronous backends (webgl, webgpu) work queued in one phase may finish in a
 * later one, so only the step total is exact there (the trainer adds no extra syncs to keep the
 * step fast). 'adapt' is the extra forward pass of Levenberg-Marquardt damping. 'communication'
 * (distributed training only; 0 otherwise) is the time spent in collectives, including the device
 * reads that pack their messages and the wait for the slowest rank.
 */

export const PHASES = ['forwardBackward', 'statistics', 'inverses', 'projection', 'update', 'adapt', 'communication'] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTimings = Record<Phase, number> & { total: number };

export function emptyTimings(): PhaseTimings {
  return { forwardBackward: 0, statistics: 0, inverses: 0, projection: 0, update: 0, adapt: 0, communication: 0, total: 0 };
}

/** Accumulates phase durations (ms) of one step. */
export class PhaseTimer {
  readonly timings: PhaseTimings = emptyTimings();
  private readonly start = performance.now();

  /** Runs fn and charges its wall-clock time to `phase`. */
  time<T>(phase: Phase, fn: () => T): T {
    const t0 = performance.now();
    try {
      return fn();
    } finally {
      this.timings[phase] += performance.now() - t0;
    }
  }

  /** As time(), for a phase that awaits (a device read, an asynchronous component). */
  async timeAsync<T>(phase: Phase, fn: () => Promise<T>): Promise<T> {
    const t0 = performance.now();
    try {
      return await fn();
    } finally {
      this.timings[phase] += performance.now() - t0;
    }
  }

  finish(): PhaseTimings {
    this.timings.total = performance.now() - this.start;
    return this.timings;
  }
}

/** Adds one step's timings into a running total. */
export function accumulate(into: PhaseTimings, step: PhaseTimings): void {
  for (const p of PHASES) into[p] += step[p];
  into.total += step.total;
}
