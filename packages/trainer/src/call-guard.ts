/**
 * One call at a time on a Trainer. A step awaits device reads, so a caller that forgets `await`
 * in a loop (`for (...) trainer.step(x, y)`) would start the next step while the previous one is
 * still between its phases: two steps would interleave on the same state (RNG, step
 * counter, update-rule moments, curvature statistics) and silently train on a mixture. A guard
 * enters synchronously, before the first await of the call, so the second call is refused with
 * CONCURRENT_CALL at once and the first one finishes untouched.
 */
import { NatgradError } from '@natgrad/core';

export class CallGuard {
  private running: string | null = null;

  /** Refuses `what` while another call holds this guard. */
  check(what: string): void {
    if (this.running === null) return;
    throw new NatgradError('CONCURRENT_CALL', `Trainer.${what} was called while Trainer.${this.running} is still running.`, {
      expected: `one call at a time: Trainer.${this.running} settled before Trainer.${what} starts`,
      received: `Trainer.${what} during an unfinished Trainer.${this.running}`,
      fix: 'await every step() and fit() before the next call, e.g. for (...) { await trainer.step(x, y); }',
    });
  }

  /** Runs fn as the one call holding this guard; refused (rejected) while another holds it. */
  async run<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.check(what);
    this.running = what;
    try {
      return await fn();
    } finally {
      this.running = null;
    }
  }
}
