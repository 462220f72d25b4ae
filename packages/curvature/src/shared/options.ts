/**
 * Validation of the hyper-parameters shared by the curvature estimators (EMA decay, damping,
 * Fisher type, KL clip). Estimators fail at construction, never on the first step, with an error
 * that says which value was wrong and what a sensible one looks like.
 */
import { type FisherType, NatgradError, describeValue } from '@natgrad/core';

/** Options every EMA curvature estimator takes, checked by checkDecay and checkKlClip. */
export interface EmaEstimatorOptions {
  /** EMA decay of the statistics (default 0.95). */
  decay?: number;
  /** KL clipping bound (kfac-pytorch's rule; it uses 1e-3); undefined disables it. */
  klClip?: number;
}

export function checkDecay(owner: string, decay: number): number {
  if (typeof decay !== 'number' || !(decay >= 0 && decay < 1)) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${owner} decay.`, {
      expected: 'an EMA decay in [0, 1)',
      received: describeValue(decay),
      fix: 'pass decay such as 0.95 (0 keeps only the latest batch)',
    });
  }
  return decay;
}

export function checkFisher(owner: string, fisher: FisherType): FisherType {
  if (fisher !== 'sampled' && fisher !== 'empirical') {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${owner} Fisher type.`, {
      expected: "'sampled' (true Fisher, labels drawn from the model) or 'empirical' (training labels)",
      received: describeValue(fisher),
      fix: "pass fisher: 'sampled' or fisher: 'empirical'",
    });
  }
  return fisher;
}

export function checkKlClip(owner: string, klClip: number | undefined): number | undefined {
  if (klClip === undefined) return undefined;
  if (typeof klClip !== 'number' || !(klClip > 0 && Number.isFinite(klClip))) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid ${owner} klClip.`, {
      expected: 'a finite number > 0, or undefined to disable KL clipping',
      received: describeValue(klClip),
      fix: 'pass klClip such as 1e-3 (kfac-pytorch default) or omit it',
    });
  }
  return klClip;
}

/** The damping passed to refreshInverses: the estimator adds it, so it must be finite and > 0. */
export function checkDamping(owner: string, damping: number): number {
  if (typeof damping !== 'number' || !(damping > 0 && Number.isFinite(damping))) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid damping passed to ${owner}.refreshInverses.`, {
      expected: 'a finite damping > 0',
      received: describeValue(damping),
      fix: 'pass the value of a damping schedule, e.g. 1e-3',
    });
  }
  return damping;
}

export function checkLearningRate(owner: string, learningRate: number): number {
  if (typeof learningRate !== 'number' || !(learningRate > 0 && Number.isFinite(learningRate))) {
    throw new NatgradError('INVALID_ARGUMENT', `Invalid learning rate passed to ${owner}.scaleUpdate.`, {
      expected: 'a finite learning rate > 0',
      received: describeValue(learningRate),
      fix: 'pass the learning rate of the current step',
    });
  }
  return learningRate;
}

/** Options must be an object (or omitted): a bare number or string is a misuse worth naming. */
export function checkOptionsObject(owner: string, options: unknown, expected: string, fix: string): void {
  if (options === null || typeof options !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}: options must be an object.`, {
      expected,
      received: describeValue(options),
      fix,
    });
  }
}
