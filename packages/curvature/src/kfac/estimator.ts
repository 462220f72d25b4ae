/**
 * KFAC (Martens & Grosse 2015; Conv2D by KFC, Grosse & Martens 2016) as a CurvatureEstimator: per
 * registered layer one Kronecker block F = A (x) G over the block matrix W~ = [kernel; bias] (see
 * factors.ts for the exact scaling of A and G), with
 *   - statistics: zero-initialised EMAs of the batch factors, debiased by 1/(1 - decay^t) (ema.ts);
 *   - inverses: a cache rebuilt by refreshInverses(lambda) with pi-corrected factored damping or
 *     exact eigenbasis damping (damping.ts), through @natgrad/linalg;
 *   - precondition(g) = F_damped^-1 g and multiply(v) = F v with the undamped debiased factors
 *     (FOP needs both, fop-spec.md step 3 and 5);
 *   - optional KL clipping with kfac-pytorch's rule (kl-clip.ts).
 * Cadences belong to the trainer; nothing on the step path reads the device. The calls that may
 * read it (refreshInverses: a summary of the factors, and the factors themselves on the host
 * linear-algebra paths) are asynchronous, because WebGPU cannot read synchronously.
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
  type StatisticsWorker,
  describeValue,
  factorSizes,
} from '@natgrad/core';
import { SUPPORTED_METHODS } from '@natgrad/linalg';
import { fromBlockMatrix, kernelShape, outSize, toBlockMatrix } from '../shared/block-matrix';
import { checkBatchSize, getCapture } from '../shared/capture-check';
import { debiasScale, emaAssign, zeroVariable } from '../shared/ema';
import { EmaCurvatureEstimator } from '../shared/ema-curvature-estimator';
import { checkLayers } from '../shared/layer-check';
import { type EmaEstimatorOptions, checkDamping, checkDecay, checkFisher, checkKlClip, checkOptionsObject } from '../shared/options';
import { checkParamMap, checkParamShape } from '../shared/param-map';
import { checkStateLayout, readEmaState, restoreStatistics } from '../shared/state-check';
import { type BlockInverse, type DampingMode, type LinalgMethod, applyInverse, computeInverses, disposeInverse, inverseBytes } from './damping';
import { inverseTensors, inverseValues, restoreInverses } from './inverse-state';
import { batchFactors } from './factors';
import { type WorkerSlot, gramTerms, pullFactors, pushFactors, requireHostBackend, workerKeys } from './worker-statistics';

export interface KfacOptions extends EmaEstimatorOptions {
  /** 'pi': pi-corrected factored damping (default); 'eigen': exact damping in the eigenbasis. */
  damping?: DampingMode;
  /** Labels of the statistics backward (default 'sampled', the true Fisher). */
  fisher?: FisherType;
  /** How @natgrad/linalg inverts the damped factors (default 'auto'). */
  inverseMethod?: LinalgMethod;
  /**
   * Computes the factor statistics on another thread (@natgrad/backends' createStatisticsWorker()):
   * the Gram products run on a second CPU core while training goes on, and the estimator waits for
   * them only when it needs the factors (inverse refresh, multiply, factors, getState). Same values
   * as without it on the same backend. The worker stays owned by the caller (terminate it after use).
   * Only on the 'cpu' and 'wasm' backends (UNSUPPORTED_BACKEND elsewhere): it copies every capture
   * to the host, which a GPU backend cannot do synchronously and has no reason to.
   */
  statisticsWorker?: StatisticsWorker;
}

const KIND = 'natgrad/curvature/kfac';
const VERSION = 1;
const METHODS: readonly LinalgMethod[] = ['auto', 'host', 'blocked', 'newton-schulz', 'native'];

export type Slot = WorkerSlot;

export class KfacEstimator extends EmaCurvatureEstimator<Slot, BlockInverse> implements CurvatureEstimator {
  readonly name = 'kfac';
  readonly requires: CurvatureRequirements;
  readonly decay: number;
  readonly damping: DampingMode;
  readonly klClip: number | undefined;
  readonly inverseMethod: LinalgMethod;
  readonly statisticsWorker: StatisticsWorker | undefined;
  /** Batches were sent to the statistics worker since its averages were last copied into the slots. */
  private workerAhead = false;

  constructor(options: KfacOptions = {}) {
    checkOptionsObject('kfac', options, '{ decay?, damping?, fisher?, klClip?, inverseMethod?, statisticsWorker? }', 'call kfac() or kfac({ decay: 0.95 })');
    super('kfac');
    this.decay = checkDecay('kfac', options.decay ?? 0.95);
    this.requires = { captures: true, fisher: checkFisher('kfac', options.fisher ?? 'sampled') };
    this.klClip = checkKlClip('kfac', options.klClip);
    this.damping = options.damping ?? 'pi';
    if (this.damping !== 'pi' && this.damping !== 'eigen') {
      throw new NatgradError('INVALID_ARGUMENT', 'kfac: unknown damping mode.', {
        expected: "'pi' (factored, pi-corrected) or 'eigen' (exact, eigenbasis)",
        received: describeValue(this.damping),
        fix: "pass damping: 'pi' or damping: 'eigen'",
      });
    }
    this.inverseMethod = options.inverseMethod ?? 'auto';
    this.statisticsWorker = options.statisticsWorker;
    const w = this.statisticsWorker as Partial<StatisticsWorker> | undefined;
    if (w !== undefined && (typeof w !== 'object' || w === null || typeof w.accumulate !== 'function' || typeof w.read !== 'function')) {
      throw new NatgradError('INVALID_ARGUMENT', 'kfac: statisticsWorker is not a StatisticsWorker.', {
        expected: 'the result of createStatisticsWorker() from @natgrad/backends (or another StatisticsWorker)',
        received: describeValue(w),
        fix: 'await createStatisticsWorker() and pass the worker, or omit statisticsWorker',
      });
    }
    if (w !== undefined) requireHostBackend('kfac', tf.getBackend());
    if (!METHODS.includes(this.inverseMethod)) {
      throw new NatgradError('INVALID_ARGUMENT', 'kfac: unknown inverseMethod.', {
        expected: METHODS.map((m) => `'${m}'`).join(', '),
        received: describeValue(this.inverseMethod),
        fix: "omit inverseMethod ('auto') or pick one of the listed methods",
      });
    }
    if (this.damping === 'eigen' && this.inverseMethod !== 'auto' && !SUPPORTED_METHODS.eigh.includes(this.inverseMethod)) {
      throw new NatgradError('INVALID_ARGUMENT', "kfac: inverseMethod cannot compute the eigenbasis of damping 'eigen'.", {
        expected: `'auto' or ${SUPPORTED_METHODS.eigh.map((m) => `'${m}'`).join(', ')} with damping 'eigen'`,
        received: describeValue(this.inverseMethod),
        fix: "omit inverseMethod, or use damping: 'pi' for matMul-only inverses",
      });
    }
  }

  get blocks(): readonly CurvatureBlock[] {
    return (this.slots ?? []).map(({ layer }) => ({
      name: layer.name,
      params: layer.bias === null ? [layer.kernel] : [layer.kernel, layer.bias],
    }));
  }

  init(layers: readonly LayerInfo[], variables: Record<string, tf.Variable>): void {
    this.live('init', false);
    this.notRunning('init');
    if (this.statisticsWorker !== undefined) requireHostBackend('kfac.init', tf.getBackend());
    checkLayers('kfac', layers, variables);
    this.release();
    this.slots = layers.map((layer) => {
      const { a, g } = factorSizes(layer);
      return { layer: { ...layer }, a: zeroVariable([a, a]), g: zeroVariable([g, g]), keys: workerKeys(layer) };
    });
    this.steps = 0;
    this.workerAhead = false;
    this.statisticsWorker?.allocate(Object.fromEntries(this.slots.flatMap((s) => [[s.keys.a, s.a.shape[0]], [s.keys.g, s.g.shape[0]]])));
  }

  /**
   * Folds the batch in. Nothing here reads the device, so the work is done (or handed to the
   * worker) before the promise is returned; it is asynchronous for the contract's sake.
   */
  async updateStatistics(batch: CurvatureBatch): Promise<void> {
    const slots = this.live('updateStatistics');
    const n = checkBatchSize('kfac', batch);
    // Check every capture before touching any statistic, so a bad batch leaves the state intact.
    const captures = slots.map((s) => getCapture('kfac', batch, s.layer));
    const worker = this.statisticsWorker;
    if (worker !== undefined) {
      requireHostBackend('kfac.updateStatistics', tf.getBackend());
      // No tf.tidy around the worker's reads: a host read inside a tidy scope is ~10x slower.
      const terms = slots.flatMap((s, i) => gramTerms(s, captures[i], n));
      try {
        worker.accumulate(terms, this.decay);
      } finally {
        tf.dispose(terms.map((t) => t.rows));
      }
      this.workerAhead = true;
      this.steps++;
      return;
    }
    slots.forEach((slot, i) => {
      tf.tidy(() => {
        const { a, g } = batchFactors(slot.layer, captures[i], n);
        emaAssign(slot.a, a, this.decay);
        emaAssign(slot.g, g, this.decay);
      });
    });
    this.steps++;
  }

  /**
   * Folds precomputed batch factors in, one { a, g } per registered layer in registration order,
   * exactly as updateStatistics() folds the factors it computes from captures (batchFactors()).
   * For distributed training: each process computes its shard's factors, they are averaged over
   * the processes (the whole batch's factors, see factors.ts), and the layer's owner folds them in.
   * Not with a statistics worker (its averages would be bypassed). The tensors stay the caller's.
   */
  foldFactors(factors: readonly { a: tf.Tensor; g: tf.Tensor }[]): void {
    const slots = this.live('foldFactors');
    if (this.statisticsWorker !== undefined) {
      throw new NatgradError('INVALID_ARGUMENT', 'kfac.foldFactors cannot be used with a statistics worker.', {
        expected: 'an estimator built without statisticsWorker',
        received: 'kfac({ statisticsWorker })',
        fix: 'omit statisticsWorker (distributed training computes the statistics on every process instead)',
      });
    }
    if (!Array.isArray(factors) || factors.length !== slots.length) {
      throw new NatgradError('INVALID_ARGUMENT', 'kfac.foldFactors: one { a, g } per registered layer.', {
        expected: `${slots.length} entries (${slots.map((s) => s.layer.name).join(', ')})`,
        received: describeValue(factors),
        fix: 'pass the factors of every registered layer in registration order',
      });
    }
    // Every shape is checked before any statistic changes, so a bad entry leaves the state intact.
    slots.forEach((slot, i) => {
      const f = factors[i];
      if (!(f?.a instanceof tf.Tensor) || !(f?.g instanceof tf.Tensor) || !tf.util.arraysEqual(f.a.shape, slot.a.shape) || !tf.util.arraysEqual(f.g.shape, slot.g.shape)) {
        throw new NatgradError('SHAPE_MISMATCH', `kfac.foldFactors: factors of layer "${slot.layer.name}" have the wrong shape.`, {
          expected: `a [${slot.a.shape.join(',')}], g [${slot.g.shape.join(',')}]`,
          received: `a ${describeValue(f?.a)}, g ${describeValue(f?.g)}`,
          fix: 'pass the factors computed with batchFactors() for this layer',
        });
      }
    });
    slots.forEach((slot, i) => {
      tf.tidy(() => {
        emaAssign(slot.a, factors[i].a, this.decay);
        emaAssign(slot.g, factors[i].g, this.decay);
      });
    });
    this.steps++;
  }

  async refreshInverses(damping: number): Promise<void> {
    const slots = this.live('refreshInverses');
    this.notRunning('refreshInverses');
    checkDamping('kfac', damping);
    this.requireStatistics('refreshInverses');
    this.waitForStatistics();
    const c = debiasScale(this.decay, this.steps);
    // Debiased copies: the refresh works on them across its awaits, so a batch folded in meanwhile
    // does not reach this cache (it belongs to the next refresh).
    const factors = slots.map((s) => ({
      name: s.layer.name,
      // Kept: a caller's tidy around this call would free them before the awaited build uses them.
      a: tf.keep(tf.mul(s.a, c)) as tf.Tensor2D,
      g: tf.keep(tf.mul(s.g, c)) as tf.Tensor2D,
    }));
    const previous = this.inverses;
    await this.installRefresh(damping, async () => {
      try {
        return await computeInverses(factors, damping, this.damping, this.inverseMethod, previous);
      } finally {
        for (const f of factors) tf.dispose([f.a, f.g]);
      }
    });
  }

  precondition(grads: ParamMap): ParamMap {
    const slots = this.live('precondition');
    const inverses = this.requireInverses('precondition');
    return this.mapBlocks('precondition', slots, grads, (w, i) => applyInverse(inverses[i], w));
  }

  multiply(vectors: ParamMap): ParamMap {
    const slots = this.live('multiply');
    this.requireStatistics('multiply');
    this.waitForStatistics();
    const c = debiasScale(this.decay, this.steps);
    return this.mapBlocks('multiply', slots, vectors, (w, i) => tf.mul(tf.matMul(tf.matMul(slots[i].a, w), slots[i].g), c * c));
  }

  /**
   * multiply() in two halves. With a statistics worker the products A·W·G run on the worker's
   * thread (its averages are this estimator's, possibly a batch ahead, which is exactly what
   * multiply() would wait for), so the caller can precondition meanwhile; results are bit-identical
   * to multiply(). Without a worker it is multiply() itself.
   */
  beginMultiply(vectors: ParamMap): () => ParamMap {
    const slots = this.live('multiply');
    this.requireStatistics('multiply');
    const worker = this.statisticsWorker;
    if (worker === undefined) {
      const result = this.multiply(vectors);
      return () => result;
    }
    const present = this.presentBlocks('multiply', slots, vectors);
    const c = debiasScale(this.decay, this.steps);
    const blocks = present.map((i) => blockOf(slots[i].layer, vectors));
    let finish: () => Float32Array[];
    try {
      finish = worker.multiply(present.map((i, k) => ({ aKey: slots[i].keys.a, gKey: slots[i].keys.g, vector: blocks[k] })));
    } finally {
      tf.dispose(blocks);
    }
    const shapes = blocks.map((b) => b.shape);
    return () => {
      const products = finish();
      const out: ParamMap = {};
      present.forEach((i, k) => {
        // multiply()'s last op, on the worker's A·W·G
        storeBlock(out, slots[i].layer, tf.tidy(() => tf.mul(tf.tensor2d(products[k], shapes[k]), c * c) as tf.Tensor2D));
      });
      return out;
    };
  }

  /**
   * The current debiased factors A and G of a layer (copies; the caller owns them). For tests,
   * diagnostics and the Levenberg-Marquardt quadratic model.
   */
  factors(layerName: string): { a: tf.Tensor2D; g: tf.Tensor2D } {
    const slots = this.live('factors');
    this.requireStatistics('factors');
    this.waitForStatistics();
    const slot = slots.find((s) => s.layer.name === layerName);
    if (slot === undefined) {
      throw new NatgradError('INVALID_ARGUMENT', `kfac.factors: unknown layer "${layerName}".`, {
        expected: `one of [${slots.map((s) => s.layer.name).join(', ')}]`,
        received: describeValue(layerName),
        fix: 'pass the name of a registered layer',
      });
    }
    const c = debiasScale(this.decay, this.steps);
    return { a: tf.mul(slot.a, c) as tf.Tensor2D, g: tf.mul(slot.g, c) as tf.Tensor2D };
  }

  getState(): StateDict {
    const slots = this.live('getState');
    this.waitForStatistics();
    const tensors: Record<string, tf.Tensor> = {};
    for (const s of slots) {
      tensors[`${s.layer.name}/A`] = tf.clone(s.a);
      tensors[`${s.layer.name}/G`] = tf.clone(s.g);
    }
    // The inverse cache is saved too: it was computed from the statistics of the last inverse step,
    // not from the current ones, so recomputing it on load would change every step up to the next
    // refresh and a resumed run would not continue bit-identically.
    const inverses = this.inverses ?? [];
    inverses.forEach((inv, i) => {
      const name = slots[i].layer.name;
      for (const [key, t] of Object.entries(inverseTensors(inv))) tensors[`${name}/inverse/${key}`] = tf.clone(t);
    });
    return {
      kind: KIND,
      version: VERSION,
      values: {
        ...this.emaStateValues(),
        layers: slots.map(({ layer }) => ({ name: layer.name, ...factorSizes(layer) })),
        inverses: this.inverses === null ? null : inverses.map(inverseValues),
      },
      tensors,
    };
  }

  /**
   * Restores factors and step count (copies; the state stays owned by the caller) and the inverse
   * cache: restored as saved when the state carries it for this damping mode (bit-identical
   * resume). Otherwise (a state saved in the other damping mode) the cache is to be recomputed
   * from the restored factors at the saved damping (kfac-pytorch's rule); that reads the device,
   * which a synchronous setState cannot, so it is left to the caller: pendingRefresh says at which
   * damping, and precondition() refuses until `await refreshInverses(pendingRefresh)`. A state
   * saved with another decay keeps its debiased factors: the raw EMA is rescaled to this decay.
   */
  setState(state: StateDict): void {
    const slots = this.live('setState');
    this.notRunning('setState');
    const { steps, damping, rescale } = readEmaState('kfac', state, KIND, VERSION, this.decay);
    checkStateLayout(
      'kfac',
      slots.map(({ layer }) => ({ name: layer.name, ...factorSizes(layer) })),
      state.values.layers,
      'other layers',
      'restore a state saved for the same model and layer registration',
    );
    // Read (and validate) the saved inverse cache before changing anything, so a corrupt state
    // leaves this estimator as it was.
    const cached = damping === null || steps === 0 ? null : restoreInverses('kfac', state, slots.map((s) => s.layer), this.damping);
    try {
      restoreStatistics(
        'kfac',
        state,
        slots.flatMap((s) => [
          { key: `${s.layer.name}/A`, variable: s.a },
          { key: `${s.layer.name}/G`, variable: s.g },
        ]),
        rescale,
      );
    } catch (err) {
      for (const inv of cached ?? []) disposeInverse(inv);
      throw err;
    }
    if (this.statisticsWorker !== undefined) pushFactors(this.statisticsWorker, slots);
    this.workerAhead = false;
    this.steps = steps;
    this.clearInverses();
    if (damping === null || steps === 0) return;
    if (cached === null) this.rebuildDamping = damping;
    else this.replaceInverses(cached, damping);
  }

  protected blockName(slot: Slot): string {
    return slot.layer.name;
  }

  protected statisticsBytes(slot: Slot): number {
    return 4 * (slot.a.size + slot.g.size);
  }

  protected inverseBytes(inverse: BlockInverse): number {
    return inverseBytes(inverse);
  }

  protected disposeSlot(slot: Slot): void {
    tf.dispose([slot.a, slot.g]);
    this.statisticsWorker?.release([slot.keys.a, slot.keys.g]);
  }

  /**
   * With a statistics worker: waits for it to fold in every batch sent so far and copies its
   * averages into this estimator (every method that reads the factors does this itself; call it
   * to put the wait at a chosen point, e.g. at the end of a timed block). Without one: nothing.
   */
  waitForStatistics(): void {
    if (this.statisticsWorker === undefined || !this.workerAhead) return;
    pullFactors(this.statisticsWorker, this.live('waitForStatistics'));
    this.workerAhead = false;
  }

  protected disposeInverse(inverse: BlockInverse): void {
    disposeInverse(inverse);
  }

  protected cacheTensors(inverse: BlockInverse): tf.Tensor[] {
    return Object.values(inverseTensors(inverse));
  }

  /** Indices of the slots whose block is in `map`, after checking each block is whole and well shaped. */
  private presentBlocks(what: string, slots: Slot[], map: ParamMap): number[] {
    checkParamMap(`kfac.${what}`, map);
    const present: number[] = [];
    slots.forEach(({ layer }, i) => {
      const k = map[layer.kernel];
      const b = layer.bias === null ? undefined : map[layer.bias];
      if (k === undefined && b === undefined) return;
      if (k === undefined || (layer.bias !== null && b === undefined)) {
        throw new NatgradError('INVALID_ARGUMENT', `kfac.${what}: block "${layer.name}" is incomplete.`, {
          expected: `both "${layer.kernel}" and "${layer.bias}" (a Kronecker block couples kernel and bias)`,
          received: `only "${k === undefined ? layer.bias : layer.kernel}"`,
          fix: 'pass the whole block, or neither of its parameters',
        });
      }
      checkParamShape(`kfac.${what}`, layer.kernel, k, kernelShape(layer));
      if (layer.bias !== null) checkParamShape(`kfac.${what}`, layer.bias, b as tf.Tensor, [outSize(layer)]);
      present.push(i);
    });
    return present;
  }

  /** Applies `op` to W~ of every block present in `map`, returning kernel/bias tensors. */
  private mapBlocks(what: string, slots: Slot[], map: ParamMap, op: (w: tf.Tensor2D, i: number) => tf.Tensor2D): ParamMap {
    const out: ParamMap = {};
    for (const i of this.presentBlocks(what, slots, map)) {
      const { layer } = slots[i];
      const w = blockOf(layer, map);
      try {
        storeBlock(out, layer, tf.tidy(() => op(w, i)));
      } finally {
        w.dispose();
      }
    }
    return out;
  }
}

/** W~ = [kernel; bias] of a layer's block in `map` (the caller owns it). */
function blockOf(layer: LayerInfo, map: ParamMap): tf.Tensor2D {
  return tf.tidy(() => toBlockMatrix(layer, map[layer.kernel], layer.bias === null ? undefined : map[layer.bias]));
}

/** Writes W~ (consumed) back into `out` as the layer's kernel and bias tensors. */
function storeBlock(out: ParamMap, layer: LayerInfo, w: tf.Tensor2D): void {
  const parts = tf.tidy(() => {
    const r = fromBlockMatrix(layer, w);
    return r.bias === undefined ? [r.kernel] : [r.kernel, r.bias];
  });
  w.dispose();
  out[layer.kernel] = parts[0];
  if (layer.bias !== null) out[layer.bias] = parts[1];
}

/** KFAC curvature (Dense and Conv2D blocks). Options and defaults: see KfacOptions. */
export function kfac(options: KfacOptions = {}): KfacEstimator {
  return new KfacEstimator(options);
}
