/**
 * The communication of distributed training (arXiv 2508.13898, Algorithm 1), in one place: the
 * trainer's distributed step calls these methods in the same order on every rank, and each one is
 * a fixed sequence of collectives, so the ranks can never disagree about what comes next. Why
 * positional: every rank builds its own model, whose layer and variable names carry per-process
 * suffixes (and, in one process, per-model ones), so everything crosses the wire by index —
 * parameters in the capture's variable order, layers in the capture's layer order — and every
 * message is a flat float32 array (transport is exact: a direction received is bit-identical to the
 * owner's).
 */
import * as tf from '../tf';
import { type Communicator, type LayerInfo, NatgradError, type ParamMap, type ProjectionDiagnostics, factorSizes } from '@natgrad/core';
import { ownerMap } from './owner-map';

/** Floats per layer of diagnostics in the directions' allgatherv: a presence mask and s, beta, eta, perpRatio. */
const DIAG_FLOATS = 5;
const DIAG_KEYS = ['s', 'beta', 'eta', 'perpRatio'] as const;

/** One awaited read of tensors flattened and concatenated, as float32 (empty list: empty array). */
export async function readFlat(tensors: readonly tf.Tensor[]): Promise<Float32Array> {
  if (tensors.length === 0) return new Float32Array(0);
  const flat = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(tf.cast(t, 'float32'), [-1])), 0));
  try {
    // A copy: the cpu backend may hand out its own storage, which dispose() below releases.
    return Float32Array.from((await flat.data()) as Float32Array);
  } finally {
    flat.dispose();
  }
}

/** FNV-1a over the bytes of float32 arrays: a 32-bit unsigned hash, for comparisons across ranks. */
export function hashFloats(arrays: readonly Float32Array[], seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (const a of arrays) {
    const bytes = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
    for (let i = 0; i < bytes.length; i++) {
      h ^= bytes[i];
      h = Math.imul(h, 0x01000193) >>> 0;
    }
  }
  return h >>> 0;
}

/** FNV-1a over a string's UTF-16 code units. */
export function hashString(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

function size(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

export class ReplicaGroup {
  readonly rank: number;
  readonly size: number;
  /** owners[i]: the rank owning capture layer i. */
  readonly owners: number[];
  /** Indices of the layers this rank owns, ascending. */
  readonly owned: number[];
  /** The rank's parity group (FOP: even ranks give g1, odd ranks g2), after prepare(). */
  private parity: Communicator | null = null;
  private prepared = false;

  constructor(
    readonly world: Communicator,
    readonly layers: readonly LayerInfo[],
    /** Trainable parameter names in the capture's order (this rank's names). */
    readonly paramNames: readonly string[],
    readonly paramShapes: readonly (readonly number[])[],
    /** Split the ranks into even/odd groups for two sub-batch gradients (FOP). */
    readonly parityGroups: boolean,
  ) {
    this.rank = world.rank;
    this.size = world.size;
    this.owners = ownerMap(layers, this.size);
    this.owned = this.owners.flatMap((r, i) => (r === this.rank ? [i] : []));
  }

  get isPrepared(): boolean {
    return this.prepared;
  }

  /**
   * Once, at the first collective call of the trainer (step, checkpoint, verify): the parity split,
   * the check that every rank was built with the same configuration, and rank 0's weights on every
   * rank (models built with different random initialisations start identical).
   */
  async prepare(configHash: number, configText: string, model: tf.LayersModel): Promise<void> {
    if (this.prepared) return;
    if (this.parityGroups) this.parity = await this.world.split(this.rank % 2, this.rank);
    const [max, negMin] = await this.world.allreduceScalars([configHash, -configHash], 'max');
    if (max !== configHash || -negMin !== configHash) {
      throw new NatgradError('STATE_MISMATCH', 'The ranks of this job were built with different trainer configurations.', {
        expected: 'the same model architecture, composition, options, seed and progress on every rank',
        received: `configuration hash ${configHash} on rank ${this.rank} (hashes across ranks range ${-negMin}..${max}); this rank's configuration: ${configText.slice(0, 600)}`,
        fix: 'start every rank with the same command line and code (and restore the same checkpoint on every rank)',
      });
    }
    const weights = model.weights.filter((w) => w.dtype === 'float32');
    const mine = await readFlat(weights.map((w) => w.read()));
    const root = await this.world.broadcast(mine, 0);
    writeFlat(
      root,
      weights.map((w) => w.shape as number[]),
      (i, t) => {
        weights[i].write(t);
        t.dispose();
      },
    );
    this.prepared = true;
  }

  /**
   * The sub-batch gradients every rank hands the projection, from this rank's mean-loss gradient
   * (equal shards, so means of means are means over the union). With parity groups: one all-reduce
   * inside each group gives its mean, and one exchange with the partner rank (rank XOR 1) gives the
   * other group's, so every rank holds [g1 (even ranks), g2 (odd ranks)]. Otherwise one world
   * all-reduce gives the whole batch's mean, returned `copies` times (the projection's sub-batches:
   * the mean of equal copies is the copy itself).
   */
  async reduceGradients(local: ParamMap, copies: number): Promise<Float32Array[]> {
    const flat = await readFlat(this.paramNames.map((n) => local[n]));
    if (this.parityGroups) {
      const group = this.parity!;
      const mean = await group.allreduce(flat);
      divideInPlace(mean, group.size);
      const other = await this.world.sendrecv(mean, this.rank ^ 1, mean.length, this.rank ^ 1, 1);
      return this.rank % 2 === 0 ? [mean, other] : [other, mean];
    }
    const mean = await this.world.allreduce(flat);
    divideInPlace(mean, this.size);
    return Array.from({ length: copies }, (_, i) => (i === 0 ? mean : mean.slice()));
  }

  /** Tensors of the parameter maps from flat gradients (caller owns them). */
  toParamMap(flat: Float32Array): ParamMap {
    const out: ParamMap = {};
    writeFlat(flat, this.paramShapes, (i, t) => {
      out[this.paramNames[i]] = t;
    });
    return out;
  }

  /**
   * Curvature statistics reduced to their owners: every rank passes its shard's batch factors of
   * every layer ({a, g} in layer order); one reduce-scatter (segments in rank order, each the
   * owner's layers ascending) leaves each owner the sum over ranks of its layers' factors, returned
   * divided by the number of ranks (the whole batch's factors: factors.ts scales A by its rows and
   * G by the batch, so equal shards average). Only the owned layers' {a, g}, as tensors the caller owns.
   */
  async reduceStatistics(factors: readonly { a: tf.Tensor; g: tf.Tensor }[]): Promise<{ a: tf.Tensor2D; g: tf.Tensor2D }[]> {
    const order = this.rankOrder();
    const flat = await readFlat(order.flatMap((i) => [factors[i].a, factors[i].g]));
    const counts = this.perRank((i) => {
      const { a, g } = factorSizes(this.layers[i]);
      return a * a + g * g;
    });
    const mine = await this.world.reduceScatter(flat, counts);
    divideInPlace(mine, this.size);
    const out: { a: tf.Tensor2D; g: tf.Tensor2D }[] = [];
    let offset = 0;
    for (const i of this.owned) {
      const { a, g } = factorSizes(this.layers[i]);
      const aT = tf.tensor2d(mine.subarray(offset, offset + a * a), [a, a]);
      offset += a * a;
      const gT = tf.tensor2d(mine.subarray(offset, offset + g * g), [g, g]);
      offset += g * g;
      out.push({ a: aT, g: gT });
    }
    return out;
  }

  /**
   * The owners' directions on every rank: one allgatherv of each owner's layers (kernel and bias,
   * then the layer's diagnostics). Replaces the entries of `directions` of every curvature layer
   * (disposing what it replaces) and returns the diagnostics keyed by this rank's layer names.
   */
  async gatherDirections(directions: ParamMap, diagnostics: Record<string, ProjectionDiagnostics>): Promise<Record<string, ProjectionDiagnostics>> {
    const params = (i: number) => {
      const l = this.layers[i];
      return l.bias === null ? [l.kernel] : [l.kernel, l.bias];
    };
    const tensors = this.owned.flatMap((i) => params(i).map((p) => directions[p]));
    const values = await readFlat(tensors);
    const diag = new Float32Array(this.owned.length * DIAG_FLOATS);
    this.owned.forEach((i, k) => {
      const d = diagnostics[this.layers[i].name];
      if (d === undefined) return;
      let mask = 0;
      DIAG_KEYS.forEach((key, j) => {
        const v = d[key];
        if (v !== undefined) {
          mask |= 1 << j;
          diag[k * DIAG_FLOATS + 1 + j] = v;
        }
      });
      diag[k * DIAG_FLOATS] = mask;
    });
    // Per owned layer: its parameters, then its diagnostics (one contiguous record per layer).
    const mine = new Float32Array(values.length + diag.length);
    let src = 0;
    let dst = 0;
    this.owned.forEach((i, k) => {
      const n = params(i).reduce((s, p) => s + directions[p].size, 0);
      mine.set(values.subarray(src, src + n), dst);
      src += n;
      dst += n;
      mine.set(diag.subarray(k * DIAG_FLOATS, (k + 1) * DIAG_FLOATS), dst);
      dst += DIAG_FLOATS;
    });
    const counts = this.perRank((i) => params(i).reduce((s, p) => s + size(directions[p].shape), 0) + DIAG_FLOATS);
    const all = await this.world.allgatherv(mine, counts);
    const out: Record<string, ProjectionDiagnostics> = {};
    let offset = 0;
    for (const i of this.rankOrder()) {
      for (const p of params(i)) {
        const shape = directions[p].shape;
        const n = size(shape);
        const t = tf.tensor(all.subarray(offset, offset + n), shape, 'float32');
        offset += n;
        directions[p].dispose();
        directions[p] = t;
      }
      const mask = all[offset];
      if (mask !== 0) {
        const d: ProjectionDiagnostics = {};
        DIAG_KEYS.forEach((key, j) => {
          if (mask & (1 << j)) d[key] = all[offset + 1 + j];
        });
        out[this.layers[i].name] = d;
      }
      offset += DIAG_FLOATS;
    }
    return out;
  }

  /** Element-wise mean over the ranks of the model's non-trainable float32 weights (BatchNorm moving statistics). */
  async averageNonTrainable(model: tf.LayersModel): Promise<void> {
    const weights = model.nonTrainableWeights.filter((w) => w.dtype === 'float32');
    if (weights.length === 0) return;
    const sum = await this.world.allreduce(await readFlat(weights.map((w) => w.read())));
    divideInPlace(sum, this.size);
    writeFlat(
      sum,
      weights.map((w) => w.shape as number[]),
      (i, t) => {
        weights[i].write(t);
        t.dispose();
      },
    );
  }

  /**
   * Whether every rank holds bit-identical weights: one 32-bit hash of all weights per rank,
   * gathered (as two exact 16-bit halves) so the error can name the ranks that differ from rank 0.
   */
  async verify(model: tf.LayersModel): Promise<void> {
    const weights = model.weights.filter((w) => w.dtype === 'float32');
    const h = hashFloats([await readFlat(weights.map((w) => w.read()))]);
    const all = await this.world.allgatherv(Float32Array.of(h >>> 16, h & 0xffff), new Array(this.size).fill(2));
    const hashes = Array.from({ length: this.size }, (_, r) => all[2 * r] * 65536 + all[2 * r + 1]);
    const differ = hashes.flatMap((x, r) => (x !== hashes[0] ? [r] : []));
    if (differ.length > 0) {
      throw new NatgradError('STATE_MISMATCH', 'The model weights differ between the ranks of this job.', {
        expected: 'bit-identical weights on every rank (every rank applies the same update)',
        received: `ranks [${differ.join(', ')}] differ from rank 0 (weight hashes ${hashes.map((x) => x.toString(16)).join(', ')})`,
        fix: 'run every rank on the same backend and build (a backend whose kernels differ gives different rounding); resume from the last checkpoint',
      });
    }
  }

  /** Every rank's bytes on every rank (one broadcastBytes per rank, in rank order). */
  async allgatherBytes(mine: Uint8Array): Promise<Uint8Array[]> {
    const out: Uint8Array[] = [];
    for (let r = 0; r < this.size; r++) out.push(await this.world.broadcastBytes(r === this.rank ? mine : null, r));
    return out;
  }

  /** The layers in rank order: rank 0's owned layers ascending, then rank 1's, ... */
  rankOrder(): number[] {
    return Array.from({ length: this.size }, (_, r) => this.owners.flatMap((o, i) => (o === r ? [i] : []))).flat();
  }

  /** Per rank, the sum of `count` over the layers it owns. */
  private perRank(count: (layer: number) => number): number[] {
    const counts = new Array<number>(this.size).fill(0);
    this.owners.forEach((r, i) => {
      counts[r] += count(i);
    });
    return counts;
  }

  async dispose(): Promise<void> {
    await this.parity?.dispose();
    this.parity = null;
  }
}

function divideInPlace(a: Float32Array, n: number): void {
  if (n === 1) return;
  for (let i = 0; i < a.length; i++) a[i] = a[i] / n;
}

/** Cuts a flat array into tensors of the given shapes (the caller owns each). */
export function writeFlat(flat: Float32Array, shapes: readonly (readonly number[])[], take: (index: number, t: tf.Tensor) => void): void {
  let offset = 0;
  shapes.forEach((shape, i) => {
    const n = size(shape);
    take(i, tf.tensor(flat.subarray(offset, offset + n), shape as number[], 'float32'));
    offset += n;
  });
}
