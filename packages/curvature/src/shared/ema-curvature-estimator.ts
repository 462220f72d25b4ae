/**
 * What KFAC and the diagonal Fisher share as CurvatureEstimators, apart from their algorithms: the
 * lifecycle (init, use, dispose, with errors that name the misuse), the count of statistics steps
 * that debiases the zero-initialised EMAs (ema.ts), the inverse cache with the damping it was
 * built at, the memory report, and KL clipping over every covered parameter (kl-clip.ts). A
 * subclass keeps one slot per block (its statistics variables) and one cache entry per slot, and
 * says how to release and measure them; this class decides when that happens.
 *
 * Asynchronous calls (WebGPU reads the device only asynchronously): a refresh computes its cache
 * from copies of the statistics across awaits, then installs it. Meanwhile updateStatistics,
 * precondition and multiply work on the previous cache; init, setState and a second refresh are
 * refused with CONCURRENT_CALL (the refresh would overwrite what they installed), and dispose()
 * makes the refresh discard its result and reject with DISPOSED, so nothing leaks either way.
 *
 * State the estimator owns survives any caller's tf.tidy: a caller may well run updateStatistics,
 * refreshInverses or setState inside one (their synchronous part then runs in its scope), so every
 * tensor the estimator keeps beyond the call is tf.keep()-ed when created (statistics are
 * variables, which tidy never frees; installed caches go through replaceInverses).
 */
import * as tf from '@tensorflow/tfjs-core';
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
  /**
   * The damping setState() could not rebuild the cache at (a state without a usable cache: setState
   * is synchronous, rebuilding reads the device); null otherwise. See pendingRefresh.
   */
  protected rebuildDamping: number | null = null;
  /** Batches folded into the statistics since init(). */
  protected steps = 0;
  private disposed = false;
  /** The call that is running across an await (a refresh), or null. */
  private running: string | null = null;

  /** `owner` names the estimator in every error message ('kfac', 'diagonal'). */
  protected constructor(protected readonly owner: string) {}

  /** Number of batches folded into the statistics so far. */
  get statisticsSteps(): number {
    return this.steps;
  }

  /**
   * The damping to rebuild the inverse cache at, when setState() restored statistics but not their
   * cache (a KFAC state saved in the other damping mode); null when nothing is pending. setState
   * is synchronous (Stateful) and a rebuild reads the device, so the caller finishes the restore
   * with `await estimator.refreshInverses(estimator.pendingRefresh)` before the next precondition().
   */
  get pendingRefresh(): number | null {
    return this.rebuildDamping;
  }

  async scaleUpdate(directions: ParamMap, grads: ParamMap, learningRate: number): Promise<number> {
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
    // A pending rebuild is saved as the cache's damping, so a state saved before it stays complete.
    return { steps: this.steps, decay: this.decay, damping: this.lastDamping ?? this.rebuildDamping };
  }

  protected abstract blockName(slot: Slot): string;
  protected abstract statisticsBytes(slot: Slot): number;
  protected abstract inverseBytes(inverse: Inverse): number;
  protected abstract disposeSlot(slot: Slot): void;
  protected abstract disposeInverse(inverse: Inverse): void;
  /** The tensors of one cache entry (kept out of any caller's tidy when installed). */
  protected abstract cacheTensors(inverse: Inverse): tf.Tensor[];

  /** The slots, after checking the estimator is alive (and, unless `needInit` is false, initialised). */
  protected live(what: string, needInit = true): Slot[] {
    if (this.disposed) throw lifecycleError(this.owner, true, what);
    if (needInit && this.slots === null) throw lifecycleError(this.owner, false, what);
    return this.slots as Slot[];
  }

  /** Refuses `what` (init, setState, refreshInverses) while a refresh is running across an await. */
  protected notRunning(what: string): void {
    if (this.running === null) return;
    throw new NatgradError('CONCURRENT_CALL', `${this.owner}.${what} was called while ${this.owner}.${this.running} is still running.`, {
      expected: `${this.owner}.${this.running} settled before ${this.owner}.${what}`,
      received: `${this.owner}.${what} during an unfinished ${this.owner}.${this.running}`,
      fix: `await ${this.owner}.${this.running}() before calling ${what}()`,
    });
  }

  /**
   * Builds a new cache with `build` (which may await the device) and installs it at `damping`.
   * The caller has checked its arguments; `build` works on copies of the statistics that it owns.
   * If dispose() ran meanwhile the new cache is released and the call rejects with DISPOSED.
   */
  protected async installRefresh(damping: number, build: () => Promise<Inverse[]>): Promise<void> {
    this.notRunning('refreshInverses');
    this.running = 'refreshInverses';
    let inverses: Inverse[];
    try {
      // Leave the caller's scope before building: in a caller's tf.tidy, the tensors the build makes
      // before its first device read would be tracked by that tidy and freed when it returns, while
      // the read still needs them (on WebGPU the read is truly asynchronous; on cpu it is not, which
      // hid this). After this await the build runs in no caller's scope.
      await Promise.resolve();
      inverses = await build();
    } catch (err) {
      // dispose() may have released what the build was using (e.g. a warm start): say so.
      throw this.disposed ? this.disposedWhileRefreshing(err) : err;
    } finally {
      this.running = null;
    }
    if (this.disposed) {
      for (const inv of inverses) this.disposeInverse(inv);
      throw this.disposedWhileRefreshing(undefined);
    }
    this.replaceInverses(inverses, damping);
  }

  private disposedWhileRefreshing(cause: unknown): NatgradError {
    return new NatgradError('DISPOSED', `${this.owner}: dispose() was called while refreshInverses was running.`, {
      expected: 'the estimator alive until refreshInverses settles',
      received: 'dispose() during refreshInverses (its new cache was released)',
      fix: 'await refreshInverses() before dispose()',
      cause,
    });
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
    if (this.inverses === null && this.rebuildDamping !== null) {
      throw new NatgradError('NOT_INITIALIZED', `${this.owner}.${what}: the inverse cache of the restored state must be rebuilt.`, {
        expected: 'refreshInverses(damping) after a setState() whose state had no usable inverse cache',
        received: `statistics restored, cache pending at damping ${this.rebuildDamping}`,
        fix: 'await estimator.refreshInverses(estimator.pendingRefresh) once after setState()',
      });
    }
    if (this.inverses === null) {
      throw new NatgradError('NOT_INITIALIZED', `${this.owner}.${what} before refreshInverses().`, {
        expected: 'updateStatistics() then refreshInverses(damping) at least once',
        received: this.steps === 0 ? 'no statistics and no inverses' : 'statistics but no inverses',
        fix: 'call refreshInverses(damping) on the first step (the trainer does this on its inverse cadence)',
      });
    }
    return this.inverses as Inverse[];
  }

  /** Installs a freshly built cache, releasing the previous one. */
  protected replaceInverses(inverses: Inverse[], damping: number): void {
    // setState builds its cache synchronously, possibly inside the caller's tidy: keep it.
    for (const inv of inverses) for (const t of this.cacheTensors(inv)) tf.keep(t);
    this.clearInverses();
    this.inverses = inverses;
    this.lastDamping = damping;
  }

  protected clearInverses(): void {
    for (const inv of this.inverses ?? []) this.disposeInverse(inv);
    this.inverses = null;
    this.lastDamping = null;
    this.rebuildDamping = null;
  }

  /** Releases statistics and cache (init() again or dispose() follows). */
  protected release(): void {
    this.clearInverses();
    for (const slot of this.slots ?? []) this.disposeSlot(slot);
    this.slots = null;
  }
}

