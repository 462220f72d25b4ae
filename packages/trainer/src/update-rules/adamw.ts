/**
 * AdamW (Loshchilov & Hutter 2019, "Decoupled Weight Decay Regularization", Algorithm 2) with
 * bias correction as in Kingma & Ba 2015, Algorithm 1:
 *   m = b1 m + (1 - b1) d;  v = b2 v + (1 - b2) d^2;  t += 1
 *   theta -= lr * ( (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps) + wd * theta )
 * The decay is decoupled: it never enters m or v. The step counter t is part of the state so a
 * resumed run applies the same bias correction as an uninterrupted one.
 */
import * as tf from '../tf';
import { NatgradError, type ParamMap, type StateDict, type UpdateRule, describeValue } from '@natgrad/core';
import { checkDirections, checkKind, checkLearningRate, disposeSlots, exportSlots, importSlots, makeSlots, requireInit } from './state-helpers';

export interface AdamWOptions {
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  /** Decoupled weight decay (default 0.01, PyTorch's default). */
  weightDecay?: number;
}

export class AdamW implements UpdateRule {
  readonly name = 'adamw';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  private vars: Record<string, tf.Variable> | null = null;
  private m: Record<string, tf.Variable> | null = null;
  private v: Record<string, tf.Variable> | null = null;
  private t = 0;

  constructor(options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.epsilon = options.epsilon ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    for (const [what, value] of [
      ['beta1', this.beta1],
      ['beta2', this.beta2],
    ] as const) {
      if (!(value >= 0 && value < 1)) {
        throw new NatgradError('INVALID_ARGUMENT', `Invalid AdamW ${what}.`, {
          expected: 'a number in [0, 1)',
          received: describeValue(value),
          fix: `pass ${what} such as ${what === 'beta1' ? 0.9 : 0.999}`,
        });
      }
    }
    if (!(this.epsilon > 0 && Number.isFinite(this.epsilon))) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid AdamW epsilon.', {
        expected: 'a finite number > 0',
        received: describeValue(this.epsilon),
        fix: 'pass epsilon such as 1e-8',
      });
    }
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid AdamW weight decay.', {
        expected: 'a finite number >= 0',
        received: describeValue(this.weightDecay),
        fix: 'pass weightDecay such as 0.01, or 0',
      });
    }
  }

  init(variables: Record<string, tf.Variable>): void {
    this.dispose();
    this.vars = { ...variables };
    this.m = makeSlots(variables, 'adamw_m');
    this.v = makeSlots(variables, 'adamw_v');
    this.t = 0;
  }

  apply(directions: ParamMap, learningRate: number): void {
    const vars = requireInit('AdamW', this.vars);
    checkDirections('AdamW', directions, vars);
    checkLearningRate('AdamW', learningRate);
    this.t++;
    const { beta1: b1, beta2: b2 } = this;
    // Bias corrections in float64 on the host: identical on every backend and on resume.
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    const m = this.m!;
    const v = this.v!;
    tf.tidy(() => {
      const lr = tf.scalar(learningRate);
      for (const [name, d] of Object.entries(directions)) {
        const theta = vars[name];
        const mNext = tf.add(tf.mul(tf.scalar(b1), m[name]), tf.mul(tf.scalar(1 - b1), d));
        const vNext = tf.add(tf.mul(tf.scalar(b2), v[name]), tf.mul(tf.scalar(1 - b2), tf.square(d)));
        m[name].assign(mNext);
        v[name].assign(vNext);
        const mHat = tf.div(mNext, tf.scalar(c1));
        const vHat = tf.div(vNext, tf.scalar(c2));
        let step: tf.Tensor = tf.div(mHat, tf.add(tf.sqrt(vHat), tf.scalar(this.epsilon)));
        if (this.weightDecay > 0) step = tf.add(step, tf.mul(tf.scalar(this.weightDecay), theta));
        theta.assign(tf.sub(theta, tf.mul(lr, step)));
      }
    });
  }

  getState(): StateDict {
    requireInit('AdamW', this.vars);
    return {
      kind: 'adamw',
      version: 1,
      values: { t: this.t, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon, weightDecay: this.weightDecay },
      tensors: exportSlots({ m: this.m!, v: this.v! }),
    };
  }

  setState(state: StateDict): void {
    requireInit('AdamW', this.vars);
    checkKind(state, 'adamw', 1);
    const t = state.values.t;
    if (typeof t !== 'number' || !Number.isInteger(t) || t < 0) {
      throw new NatgradError('STATE_MISMATCH', 'AdamW state has an invalid step counter.', {
        expected: 'a non-negative integer t',
        received: describeValue(t),
        fix: 'restore from a state written by AdamW.getState()',
      });
    }
    importSlots('adamw', state, { m: this.m!, v: this.v! });
    this.t = t;
  }

  dispose(): void {
    disposeSlots(this.m);
    disposeSlots(this.v);
    this.m = null;
    this.v = null;
    this.vars = null;
    this.t = 0;
  }
}

export function adamwRule(options: AdamWOptions = {}): AdamW {
  return new AdamW(options);
}
