/**
 * What KFAC and the diagonal Fisher share as CurvatureEstimators, apart from their algorithms: the
 * lifecycle (init, use, dispose, with errors that name the misuse), the count of statistics steps
 * that debiases the zero-initialised EMAs (ema.ts), the inverse cache with the damping it was
 * built at, the memory report, and KL clipping over every covered parameter (kl-clip.ts). A
 * subclass keeps one slot per block (its statistics variables) and one cache entry per slot, and
 * says how to release and measure them; this class decides when that happens.
 */
import { type CurvatureBlock, type JsonValue, type MemoryReport, NatgradError, type ParamMap } from '@natgrad/core';
import { applyKlClip } from './kl-clip';
import { checkLearningRate } from './options';
import { lifecycleError } from './state-check';

export abstract class EmaCurvatureEstimator<Slot, Inverse> {
  /** EMA decay of the statistics. */
  abstract readonly decay: number;
  abstract readonly klClip: number | undefined;
  abstract get blocks(): readonly CurvatureBlock[];
  /** Per-block statistics; null before init() and after dispose(). */
  protected slots: Slot[] | null = null;
  /** The inverse cache, one entry per slot; null until refreshInverses(). */
  protected inverses: Inverse[] | null = null;
  /** The damping the cache was built with: saved in the state so that a restore can rebuild it. */
  protected lastDamping: number | null = null;
  /** Batches folded into the statistics since init(). */
  protected steps = 0;
  private disposed = false;

  /** `owner` names the estimator in every error message ('kfac', 'diagonal'). */
  protected constructor(protected readonly owner: string) {}

  /** Number of batches folded into the statistics so far. */
  get statisticsSteps(): number {
    return this.steps;
  }

  scaleUpdate(directions: ParamMap, grads: ParamMap, learningRate: number): number {
    this.live('scaleUpdate');
    if (this.klClip === undefined) return 1;
    checkLearningRate(this.owner, learningRate);
    const covered = this.blocks.flatMap((b) => b.params);
    return applyKlClip(this.owner, directions, grads, covered, learningRate, this.klClip);
  }

  memory(): MemoryReport {
    const slots = this.live('memory');
    const perBlock: Record<string, number> = {};
    let statistics = 0;
    let inverses = 0;
    slots.forEach((slot, i) => {
      const stat = this.statisticsBytes(slot);
      const inv = this.inverses === null ? 0 : this.inverseBytes(this.inverses[i]);
      statistics += stat;
      inverses += inv;
      perBlock[this.blockName(slot)] = stat + inv;
    });
    return { statistics, inverses, total: statistics + inverses, perBlock };
  }

  dispose(): void {
    this.release();
    this.disposed = true;
  }

  /** The state values every EMA estimator saves; readEmaState() (state-check.ts) reads them back. */
  protected emaStateValues(): Record<string, JsonValue> {
    return { steps: this.steps, decay: this.decay, damping: this.lastDamping };
  }

  protected abstract blockName(slot: Slot): string;
  protected abstract statisticsBytes(slot: Slot): number;
  protected abstract inverseBytes(inverse: Inverse): number;
  protected abstract disposeSlot(slot: Slot): void;
  protected abstract disposeInverse(inverse: Inverse): void;

  /** The slots, after checking the estimator is alive (and, unless `needInit` is false, initialised). */
  protected live(what: string, needInit = true): Slot[] {
    if (this.disposed) throw lifecycleError(this.owner, true, what);
    if (needInit && this.slots === null) throw lifecycleError(this.owner, false, what);
    return this.slots as Slot[];
  }

  protected requireStatistics(what: string): void {
    if (this.steps === 0) {
      throw new NatgradError('NOT_INITIALIZED', `${this.owner}.${what} before any updateStatistics().`, {
        expected: 'at least one updateStatistics(batch)',
        received: 'empty statistics',
        fix: 'fold a batch into the statistics first (the trainer does on its statistics cadence)',
      });
    }
  }

  protected requireInverses(what: string): Inverse[] {
    if (this.inverses === null) {
      throw new NatgradError('NOT_INITIALIZED', `${this.owner}.${what} before refreshInverses().`, {
        expected: 'updateStatistics() then refreshInverses(damping) at least once',
        received: this.steps === 0 ? 'no statistics and no inverses' : 'statistics but no inverses',
        fix: 'call refreshInverses(damping) on the first step (the trainer does this on its inverse cadence)',
      });
    }
    return this.inverses;
  }

  /** Installs a freshly built cache, releasing the previous one. */
  protected replaceInverses(inverses: Inverse[], damping: number): void {
    this.clearInverses();
    this.inverses = inverses;
    this.lastDamping = damping;
  }

  protected clearInverses(): void {
    for (const inv of this.inverses ?? []) this.disposeInverse(inv);
    this.inverses = null;
    this.lastDamping = null;
  }

  /** Releases statistics and cache (init() again or dispose() follows). */
  protected release(): void {
    this.clearInverses();
    for (const slot of this.slots ?? []) this.disposeSlot(slot);
    this.slots = null;
  }
}

