/**
 * Damping schedules: the lambda added to the curvature before inversion. Fixed schedules are
 * functions of the step; adaptive ones (Levenberg-Marquardt) also observe the reduction ratio
 * rho = (L(theta + delta) - L(theta)) / q(delta) that the trainer measures every `adaptEvery` steps.
 */
import type { Stateful } from './state';

export interface DampingObservation {
  step: number;
  /** Actual over predicted loss change. */
  reductionRatio: number;
}

export interface DampingSchedule extends Stateful {
  readonly name: string;
  /** The damping to use at `step`. */
  value(step: number): number;
  /** When defined, the trainer measures rho every `adaptEvery` steps and calls observe(). */
  readonly adaptEvery?: number;
  observe?(observation: DampingObservation): void;
  /** Called after a step was skipped for a non-finite loss or update: raise the damping. */
  onNonFiniteStep(step: number): void;
}
