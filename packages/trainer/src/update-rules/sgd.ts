/**
 * SGD with (heavy-ball or Nesterov) momentum and weight decay, in PyTorch's formulation, which is
 * what the FOP paper's ASDL runs step with after preconditioning (arXiv 2508.13898: "momentum and
 * weight decay belong to the update rule that follows"):
 *   g = d + wd * theta                     (weightDecayMode 'l2', the default: decay enters the momentum)
 *   buf = mu * buf + g
 *   theta -= lr * (nesterov ? g + mu * buf : buf)
 * With weightDecayMode 'decoupled' the decay is applied outside the momentum, as AdamW does:
 *   theta -= lr * (step(d) + wd * theta).
 */
import * as tf from '../tf';
import { NatgradError, type ParamMap, type StateDict, type UpdateRule, describeValue } from '@natgrad/core';
import { checkDirections, checkKind, checkLearningRate, disposeSlots, exportSlots, importSlots, makeSlots, requireInit } from './state-helpers';

export interface SgdOptions {
  /** Momentum coefficient mu in [0, 1) (default 0.9). 0 disables the momentum buffer. */
  momentum?: number;
  /** Nesterov momentum (default false; requires momentum > 0). */
  nesterov?: boolean;
  /** Weight-decay coefficient (default 0). */
  weightDecay?: number;
  /** 'l2': added to the direction before momentum (PyTorch SGD); 'decoupled': applied separately. */
  weightDecayMode?: 'l2' | 'decoupled';
}

export class Sgd implements UpdateRule {
  readonly name = 'sgd';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly weightDecay: number;
  readonly weightDecayMode: 'l2' | 'decoupled';
  private vars: Record<string, tf.Variable> | null = null;
  private buffers: Record<string, tf.Variable> | null = null;

  constructor(options: SgdOptions = {}) {
    this.momentum = options.momentum ?? 0.9;
    this.nesterov = options.nesterov ?? false;
    this.weightDecay = options.weightDecay ?? 0;
    this.weightDecayMode = options.weightDecayMode ?? 'l2';
    if (!(this.momentum >= 0 && this.momentum < 1)) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid SGD momentum.', {
        expected: 'a number in [0, 1)',
        received: describeValue(this.momentum),
        fix: 'pass momentum such as 0.9, or 0 for plain SGD',
      });
    }
    if (this.nesterov && this.momentum === 0) {
      throw new NatgradError('INVALID_ARGUMENT', 'Nesterov SGD needs momentum.', {
        expected: 'momentum > 0 with nesterov: true',
        received: 'momentum 0',
        fix: 'set momentum (e.g. 0.9) or nesterov: false',
      });
    }
    if (!(this.weightDecay >= 0 && Number.isFinite(this.weightDecay))) {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid SGD weight decay.', {
        expected: 'a finite number >= 0',
        received: describeValue(this.weightDecay),
        fix: 'pass weightDecay such as 5e-4, or 0',
      });
    }
    if (this.weightDecayMode !== 'l2' && this.weightDecayMode !== 'decoupled') {
      throw new NatgradError('INVALID_ARGUMENT', 'Invalid SGD weightDecayMode.', {
        expected: "'l2' or 'decoupled'",
        received: describeValue(this.weightDecayMode),
        fix: "use 'l2' (PyTorch SGD) or 'decoupled' (AdamW-style)",
      });
    }
  }

  init(variables: Record<string, tf.Variable>): void {
    this.dispose();
    this.vars = { ...variables };
    if (this.momentum > 0) this.buffers = makeSlots(variables, 'sgd_momentum');
  }

  apply(directions: ParamMap, learningRate: number): void {
    const vars = requireInit('SGD', this.vars);
    checkDirections('SGD', directions, vars);
    checkLearningRate('SGD', learningRate);
    const mu = this.momentum;
    const wd = this.weightDecay;
    tf.tidy(() => {
      const lr = tf.scalar(learningRate);
      for (const [name, d] of Object.entries(directions)) {
        const theta = vars[name];
        let g: tf.Tensor = d;
        if (wd > 0 && this.weightDecayMode === 'l2') g = tf.add(g, tf.mul(tf.scalar(wd), theta));
        let step = g;
        if (this.buffers !== null) {
          const buf = this.buffers[name];
          const next = tf.add(tf.mul(tf.scalar(mu), buf), g);
          buf.assign(next);
          step = this.nesterov ? tf.add(g, tf.mul(tf.scalar(mu), next)) : next;
        }
        if (wd > 0 && this.weightDecayMode === 'decoupled') step = tf.add(step, tf.mul(tf.scalar(wd), theta));
        theta.assign(tf.sub(theta, tf.mul(lr, step)));
      }
    });
  }

  getState(): StateDict {
    requireInit('SGD', this.vars);
    return {
      kind: 'sgd',
      version: 1,
      values: { momentum: this.momentum, nesterov: this.nesterov, weightDecay: this.weightDecay },
      tensors: this.buffers === null ? {} : exportSlots({ momentum: this.buffers }),
    };
  }

  setState(state: StateDict): void {
    requireInit('SGD', this.vars);
    checkKind(state, 'sgd', 1);
    importSlots('sgd', state, this.buffers === null ? {} : { momentum: this.buffers });
  }

  dispose(): void {
    disposeSlots(this.buffers);
    this.buffers = null;
    this.vars = null;
  }
}

/** SGD with momentum 0.9 by default; see Sgd for the exact update. */
export function sgdRule(options: SgdOptions = {}): Sgd {
  return new Sgd(options);
}
