/**
 * Diagonal curvature with the same CurvatureEstimator interface as KFAC, so a trainer swaps one
 * for the other in one line. Two statistics, both zero-initialised EMAs with bias correction:
 *   'fisher'    (default): diag F from per-example gradient products of the registered Dense/Conv2D
 *               layers (per-example.ts); the Fisher type (sampled / empirical labels) is the capture's.
 *   'empirical': the squared MEAN mini-batch gradient of every variable passed to init(), as in Adam
 *               (Kingma & Ba 2015, Algorithm 1, v_t); needs no captures, always the training labels.
 * With D the debiased statistic, p = `power` (1: natural gradient, 0.5: Adam-like) and lambda the damping:
 *   precondition(g) = g / (D^p + lambda),   multiply(v) = D^p * v.
 * Every parameter is its own block (name = variable name). The only device read is refreshInverses'
 * finiteness check (one packed read, awaited: WebGPU cannot read synchronously).
 */
import * as tf from '@tensorflow/tfjs-core';
import {
  type CurvatureBatch,
  type CurvatureBlock,
  type CurvatureEstimator,
  type CurvatureRequirements,
  type FisherType,
  type LayerInfo,
  NatgradError,
  type ParamMap,
  type StateDict,
  describeValue,
} from '@natgrad/core';
import { kernelShape, outSize } from '../shared/block-matrix';
import { checkBatchSize, getCapture } from '../shared/capture-check';
import { debiasScale, emaAssign, zeroVariable } from '../shared/ema';
import { EmaCurvatureEstimator } from '../shared/ema-curvature-estimator';
import { checkLayers } from '../shared/layer-check';
import { type EmaEstimatorOptions, checkDamping, checkDecay, checkFisher, checkKlClip, checkOptionsObject } from '../shared/options';
import { checkParamMap, checkParamShape } from '../shared/param-map';
import { checkStateLayout, readEmaState, restoreStatistics } from '../shared/state-check';
import { fisherDiagonal } from './per-example';

export type DiagonalMode = 'fisher' | 'empirical';

export interface DiagonalOptions extends EmaEstimatorOptions {
  /** 'fisher' (default): per-example diagonal Fisher of Dense/Conv2D layers; 'empirical': squared mean gradients. */
  mode?: DiagonalMode;
  /** Labels of the statistics backward in 'fisher' mode (default 'sampled'); 'empirical' mode requires 'empirical'. */
  fisher?: FisherType;
  /** Exponent of the statistic: 1 (default) gives F^-1 g, 0.5 an Adam-like g / (sqrt(D) + lambda). */
  power?: number;
}

const KIND = 'natgrad/curvature/diagonal';
const VERSION = 1;

export interface Slot {
  name: string;
  shape: number[];
  stat: tf.Variable;
}

export class DiagonalEstimator extends EmaCurvatureEstimator<Slot, tf.Tensor> implements CurvatureEstimator {
  readonly name: string;
  readonly requires: CurvatureRequirements;
  readonly mode: DiagonalMode;
  readonly decay: number;
  readonly power: number;
  readonly klClip: number | undefined;
  /** The registered layers ('fisher' mode only: 'empirical' needs no captures). */
  private layers: LayerInfo[] = [];

  constructor(options: DiagonalOptions = {}) {
    checkOptionsObject('diagonal', options, '{ mode?, decay?, fisher?, power?, klClip? }', "call diagonal() or diagonal({ mode: 'empirical' })");
    super('diagonal');
    this.mode = options.mode ?? 'fisher';
    if (this.mode !== 'fisher' && this.mode !== 'empirical') {
      throw new NatgradError('INVALID_ARGUMENT', 'diagonal: unknown mode.', {
        expected: "'fisher' (per-example diagonal Fisher) or 'empirical' (squared mean gradients)",
        received: describeValue(this.mode),
        fix: "pass mode: 'fisher' or mode: 'empirical'",
      });
    }
    const fisher = checkFisher('diagonal', options.fisher ?? (this.mode === 'fisher' ? 'sampled' : 'empirical'));
    if (this.mode === 'empirical' && fisher !== 'empirical') {
      throw new NatgradError('INVALID_ARGUMENT', "diagonal: mode 'empirical' cannot use sampled labels.", {
        expected: "fisher: 'empirical' (or omitted) with mode 'empirical'",
        received: describeValue(fisher),
        fix: "use mode: 'fisher' for the diagonal of the true (sampled) Fisher",
      });
    }
    this.requires = { captures: this.mode === 'fisher', fisher };
    this.name = this.mode === 'fisher' ? 'diagonal-fisher' : 'diagonal-empirical';
    this.decay = checkDecay('diagonal', options.decay ?? 0.95);
    this.klClip = checkKlClip('diagonal', options.klClip);
    this.power = options.power ?? 1;
    if (typeof this.power !== 'number' || !(this.power > 0 && this.power <= 1)) {
      throw new NatgradError('INVALID_ARGUMENT', 'diagonal: invalid power.', {
        expected: 'a number in (0, 1]',
        received: describeValue(this.power),
        fix: 'pass power: 1 (natural gradient) or 0.5 (Adam-like)',
      });
    }
  }

  get blocks(): readonly CurvatureBlock[] {
    return (this.slots ?? []).map((s) => ({ name: s.name, params: [s.name] }));
  }

  init(layers: readonly LayerInfo[], variables: Record<string, tf.Variable>): void {
    this.live('init', false);
    this.notRunning('init');
    let params: { name: string; shape: number[] }[];
    if (this.mode === 'fisher') {
      checkLayers('diagonal', layers, variables);
      params = layers.flatMap((l) => [
        { name: l.kernel, shape: kernelShape(l) },
        ...(l.bias === null ? [] : [{ name: l.bias, shape: [outSize(l)] }]),
      ]);
    } else {
      const names = variables !== null && typeof variables === 'object' ? Object.keys(variables) : [];
      if (names.length === 0) {
        throw new NatgradError('INVALID_ARGUMENT', 'diagonal.init: no variables.', {
          expected: "the model's trainable variables keyed by name",
          received: describeValue(variables),
          fix: 'pass the variables the update rule trains',
        });
      }
      params = names.map((name) => ({ name, shape: [...variables[name].shape] }));
    }
    this.release();
    this.layers = this.mode === 'fisher' ? layers.map((l) => ({ ...l })) : [];
    this.slots = params.map((p) => ({ ...p, stat: zeroVariable(p.shape) }));
    this.steps = 0;
  }

  /** Folds the batch in; no device read, so the work is done before the promise is returned. */
  async updateStatistics(batch: CurvatureBatch): Promise<void> {
    const slots = this.live('updateStatistics');
    if (batch === null || typeof batch !== 'object') {
      throw new NatgradError('INVALID_ARGUMENT', 'diagonal.updateStatistics: not a CurvatureBatch.', {
        expected: '{ captures, grads, batchSize }',
        received: describeValue(batch),
        fix: 'pass the batch assembled by the trainer',
      });
    }
    if (this.mode === 'empirical') {
      const grads = batch.grads ?? {};
      for (const s of slots) {
        if (grads[s.name] === undefined) {
          throw new NatgradError('INVALID_ARGUMENT', `diagonal.updateStatistics: no gradient for "${s.name}".`, {
            expected: 'batch.grads with the mean gradient of every variable passed to init()',
            received: `gradient keys [${Object.keys(grads).slice(0, 8).join(', ')}]`,
            fix: 'fill CurvatureBatch.grads with the mean mini-batch gradients',
          });
        }
        checkParamShape('diagonal.updateStatistics', s.name, grads[s.name], s.shape);
      }
      tf.tidy(() => {
        for (const s of slots) emaAssign(s.stat, tf.square(grads[s.name]), this.decay);
      });
    } else {
      const n = checkBatchSize('diagonal', batch);
      const captures = this.layers.map((l) => getCapture('diagonal', batch, l));
      const bySlot = new Map(slots.map((s) => [s.name, s]));
      this.layers.forEach((layer, i) => {
        tf.tidy(() => {
          const d = fisherDiagonal(layer, captures[i], n);
          emaAssign(bySlot.get(layer.kernel)!.stat, d.kernel, this.decay);
          if (layer.bias !== null) emaAssign(bySlot.get(layer.bias)!.stat, d.bias!, this.decay);
        });
      });
    }
    this.steps++;
  }

  async refreshInverses(damping: number): Promise<void> {
    const slots = this.live('refreshInverses');
    this.notRunning('refreshInverses');
    checkDamping('diagonal', damping);
    this.requireStatistics('refreshInverses');
    // The cache is built before the read, from the statistics as they are now (a batch folded in
    // while the read is awaited belongs to the next refresh); the read only decides whether to keep it.
    // Kept: a caller's tidy around this call would free them before the awaited read.
    const inverses = this.buildInverses(slots, damping).map((t) => tf.keep(t));
    const sums = tf.keep(tf.tidy(() => tf.stack(slots.map((s) => tf.sum(s.stat)))));
    await this.installRefresh(damping, async () => {
      let host: Float32Array;
      try {
        host = (await sums.data()) as Float32Array;
      } catch (err) {
        tf.dispose(inverses);
        throw err;
      } finally {
        sums.dispose();
      }
      const bad = slots.findIndex((_, i) => !Number.isFinite(host[i]));
      if (bad >= 0) {
        tf.dispose(inverses);
        throw new NatgradError('NON_FINITE_INPUT', `diagonal: the statistics of "${slots[bad].name}" are not finite.`, {
          expected: 'finite statistics',
          received: `sum = ${host[bad]}`,
          fix: 'a non-finite loss or gradient reached updateStatistics; fix the divergence and restore the last good state',
        });
      }
      return inverses;
    });
  }

  /** 1 / (D^p + lambda) of every slot, on the device (the caller owns the tensors). */
  private buildInverses(slots: Slot[], damping: number): tf.Tensor[] {
    return slots.map((s) => tf.tidy(() => tf.reciprocal(tf.add(this.scaled(s), damping))));
  }

  precondition(grads: ParamMap): ParamMap {
    const slots = this.live('precondition');
    const inverses = this.requireInverses('precondition');
    return this.mapParams('precondition', slots, grads, (g, i) => tf.mul(g, inverses[i]));
  }

  multiply(vectors: ParamMap): ParamMap {
    const slots = this.live('multiply');
    this.requireStatistics('multiply');
    return this.mapParams('multiply', slots, vectors, (v, i) => tf.mul(v, this.scaled(slots[i])));
  }

  /** The debiased statistic D of a parameter (a copy the caller owns). */
  statistic(name: string): tf.Tensor {
    const slots = this.live('statistic');
    this.requireStatistics('statistic');
    const slot = slots.find((s) => s.name === name);
    if (slot === undefined) {
      throw new NatgradError('INVALID_ARGUMENT', `diagonal.statistic: unknown parameter "${name}".`, {
        expected: `one of [${slots.map((s) => s.name).join(', ')}]`,
        received: describeValue(name),
        fix: 'pass the name of a covered variable',
      });
    }
    return tf.mul(slot.stat, debiasScale(this.decay, this.steps));
  }

  getState(): StateDict {
    const slots = this.live('getState');
    const tensors: Record<string, tf.Tensor> = {};
    for (const s of slots) tensors[s.name] = tf.clone(s.stat);
    return {
      kind: KIND,
      version: VERSION,
      values: {
        mode: this.mode,
        ...this.emaStateValues(),
        params: slots.map((s) => ({ name: s.name, shape: s.shape })),
      },
      tensors,
    };
  }

  /**
   * Restores statistics and step count (copies) and recomputes the inverses at the saved damping.
   * The recompute is refreshInverses without its finiteness read (setState is synchronous and the
   * cache is device-only): a non-finite saved statistic gives a non-finite cache, which the
   * trainer's per-step finiteness check reports at the first step.
   */
  setState(state: StateDict): void {
    const slots = this.live('setState');
    this.notRunning('setState');
    const { steps, damping, rescale } = readEmaState('diagonal', state, KIND, VERSION, this.decay);
    checkStateLayout(
      'diagonal',
      { mode: this.mode, params: slots.map((s) => ({ name: s.name, shape: s.shape })) },
      { mode: state.values.mode, params: state.values.params },
      'another mode or other parameters',
      'restore a state saved by a diagonal estimator of the same mode for the same model',
    );
    restoreStatistics(
      'diagonal',
      state,
      slots.map((s) => ({ key: s.name, variable: s.stat })),
      rescale,
    );
    this.steps = steps;
    this.clearInverses();
    if (damping !== null && steps > 0) this.replaceInverses(this.buildInverses(slots, damping), damping);
  }

  /** D^p with the debiased D (call inside tidy). */
  private scaled(s: Slot): tf.Tensor {
    const d = tf.mul(s.stat, debiasScale(this.decay, this.steps));
    return this.power === 1 ? d : tf.pow(d, this.power);
  }

  protected override release(): void {
    super.release();
    this.layers = [];
  }

  protected blockName(slot: Slot): string {
    return slot.name;
  }

  protected statisticsBytes(slot: Slot): number {
    return 4 * slot.stat.size;
  }

  protected inverseBytes(inverse: tf.Tensor): number {
    return 4 * inverse.size;
  }

  protected disposeSlot(slot: Slot): void {
    slot.stat.dispose();
  }

  protected disposeInverse(inverse: tf.Tensor): void {
    inverse.dispose();
  }

  protected cacheTensors(inverse: tf.Tensor): tf.Tensor[] {
    return [inverse];
  }

  /** Applies `op` elementwise to every parameter present in `map` (other keys are ignored). */
  private mapParams(what: string, slots: Slot[], map: ParamMap, op: (t: tf.Tensor, i: number) => tf.Tensor): ParamMap {
    checkParamMap(`diagonal.${what}`, map);
    const present = slots.map((s, i) => [s, i] as const).filter(([s]) => map[s.name] !== undefined);
    for (const [s] of present) checkParamShape(`diagonal.${what}`, s.name, map[s.name], s.shape);
    const out: ParamMap = {};
    for (const [s, i] of present) out[s.name] = tf.tidy(() => op(map[s.name], i));
    return out;
  }
}

/** Diagonal curvature ('fisher' or 'empirical'); options and defaults: see DiagonalOptions. */
export function diagonal(options: DiagonalOptions = {}): DiagonalEstimator {
  return new DiagonalEstimator(options);
}
