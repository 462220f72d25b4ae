/**
 * The curvature state of distributed training in the single-process checkpoint format. Each rank's
 * estimator holds only the layers it owns (owner-map.ts), but a checkpoint must resume at ANY
 * number of ranks, including one: so saving gathers every owner's layers into the state one
 * process would have written, and restoring hands each rank the layers it owns under the new map.
 * Why per-layer surgery on the StateDict is sound: a KFAC state is per layer by construction —
 * `values.layers` and `values.inverses` are arrays aligned with the registered layers and every
 * tensor is keyed `<layer name>/...` — and the remaining values (EMA steps, decay, the damping of
 * the cache) are the same on every owner, since every owner folds the same batches and refreshes
 * at the same steps.
 */
import * as tf from '../tf';
import { type CurvatureEstimator, type JsonValue, type LayerInfo, NatgradError, type StateDict, type Stateful } from '@natgrad/core';
import { decodeCheckpoint, encodeCheckpoint } from '../checkpoint-format';
import type { ReplicaGroup } from './replica-group';

/** The state of a rank that owns no layer (more ranks than curvature layers). */
const EMPTY_KIND = 'natgrad/distributed/no-owned-layers';

interface LayerEntry {
  name: string;
  [key: string]: JsonValue;
}

function notPerLayer(state: StateDict): NatgradError {
  return new NatgradError('CHECKPOINT_MISMATCH', 'Distributed training needs a per-layer curvature state.', {
    expected: 'a KFAC state (values.layers: one entry per layer, tensors keyed by layer name)',
    received: `a state of kind "${state.kind}"`,
    fix: 'use kfac() curvature with a communicator, or restore this checkpoint in a single process',
  });
}

function layerEntries(state: StateDict): LayerEntry[] {
  const layers = state.values.layers;
  if (!Array.isArray(layers) || layers.some((l) => l === null || typeof l !== 'object' || typeof (l as LayerEntry).name !== 'string')) throw notPerLayer(state);
  return layers as LayerEntry[];
}

/** The part of `state` that covers the layers named `names`, in that order (tensors shared, not copied). */
export function selectLayers(state: StateDict, names: readonly string[]): StateDict {
  const layers = layerEntries(state);
  const index = names.map((n) => layers.findIndex((l) => l.name === n));
  const missing = names.filter((_, k) => index[k] < 0);
  if (missing.length > 0) {
    throw new NatgradError('CHECKPOINT_MISMATCH', 'The curvature state lacks layers this rank owns.', {
      expected: `layers [${names.join(', ')}]`,
      received: `layers [${layers.map((l) => l.name).join(', ')}]`,
      fix: 'restore a checkpoint of the same model',
    });
  }
  const inverses = state.values.inverses;
  const prefixes = names.map((n) => `${n}/`);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [key, t] of Object.entries(state.tensors)) if (prefixes.some((p) => key.startsWith(p))) tensors[key] = t;
  return {
    kind: state.kind,
    version: state.version,
    values: {
      ...state.values,
      layers: index.map((i) => layers[i]),
      ...(Array.isArray(inverses) ? { inverses: index.map((i) => inverses[i]) } : {}),
    },
    tensors,
  };
}

/**
 * The curvature component of the checkpoint code in distributed mode: getState() gives the whole
 * gathered state while a save holds one (toCheckpointBytes), else this rank's own layers (the
 * restore's rollback copy); setState() accepts either and keeps the layers this rank owns.
 */
export class ShardedCurvature implements Stateful {
  readonly name: string;
  gathered: StateDict | null = null;

  constructor(
    private readonly estimator: CurvatureEstimator,
    private readonly layers: readonly LayerInfo[],
    private readonly owned: readonly number[],
  ) {
    this.name = estimator.name;
  }

  getState(): StateDict {
    if (this.gathered !== null) {
      const g = this.gathered;
      return { kind: g.kind, version: g.version, values: g.values, tensors: Object.fromEntries(Object.entries(g.tensors).map(([k, t]) => [k, tf.clone(t)])) };
    }
    if (this.owned.length === 0) return { kind: EMPTY_KIND, version: 1, values: {}, tensors: {} };
    return this.estimator.getState();
  }

  setState(state: StateDict): void {
    if (state.kind === EMPTY_KIND || this.owned.length === 0) return;
    this.estimator.setState(selectLayers(state, this.owned.map((i) => this.layers[i].name)));
  }

  /**
   * Collective: every owner's layers on every rank, as the state one process holding all layers
   * would return (this rank's layer names). Each rank sends its shard once (one broadcastBytes per
   * rank, in the checkpoint container); the caller disposes the result's tensors.
   */
  async gather(group: ReplicaGroup): Promise<StateDict> {
    const mine = await this.encodeShard();
    const shards = await group.allgatherBytes(mine);
    const decoded = shards.map((b) => decodeCheckpoint(b));
    try {
      let base: Record<string, JsonValue> | null = null;
      let kind = '';
      let version = 0;
      const layers: JsonValue[] = new Array(this.layers.length).fill(null);
      const inverses: JsonValue[] | null[] = new Array(this.layers.length).fill(null);
      let allInverses = true;
      const tensors: Record<string, tf.Tensor> = {};
      for (const { meta, tensors: shardTensors } of decoded) {
        const m = meta as { empty?: boolean; kind: string; version: number; values: Record<string, JsonValue>; layers: number[]; entries: LayerEntry[]; inverses: JsonValue[] | null };
        if (m.empty) continue;
        if (base === null) {
          base = m.values;
          kind = m.kind;
          version = m.version;
        }
        m.layers.forEach((i, k) => {
          const name = this.layers[i].name;
          layers[i] = { ...m.entries[k], name };
          if (m.inverses === null) allInverses = false;
          else inverses[i] = m.inverses[k];
        });
        for (const [key, t] of Object.entries(shardTensors)) {
          const slash = key.indexOf('/');
          const i = Number(key.slice(1, slash));
          tensors[`${this.layers[i].name}${key.slice(slash)}`] = t;
          delete shardTensors[key];
        }
      }
      if (base === null) throw new NatgradError('NOT_INITIALIZED', 'No rank holds curvature layers.', { expected: 'at least one curvature layer', received: 'none', fix: 'register a Dense or Conv2D layer' });
      return { kind, version, values: { ...base, layers, inverses: allInverses ? inverses : null }, tensors };
    } finally {
      for (const d of decoded) tf.dispose(Object.values(d.tensors));
    }
  }

  /** This rank's layers with positional names (L<index>/...), in the checkpoint container. */
  private async encodeShard(): Promise<Uint8Array> {
    if (this.owned.length === 0) return encodeCheckpoint({ empty: true }, {});
    const state = this.estimator.getState();
    try {
      const entries = layerEntries(state);
      const byName = new Map(this.owned.map((i) => [this.layers[i].name, i]));
      const tensors: Record<string, tf.Tensor> = {};
      for (const [key, t] of Object.entries(state.tensors)) {
        const slash = key.indexOf('/');
        const i = byName.get(key.slice(0, slash));
        if (slash < 0 || i === undefined) throw notPerLayer(state);
        tensors[`L${i}${key.slice(slash)}`] = t;
      }
      const { layers: _layers, inverses, ...values } = state.values;
      const meta: JsonValue = {
        kind: state.kind,
        version: state.version,
        values,
        layers: entries.map((e) => byName.get(e.name) as number),
        entries,
        inverses: Array.isArray(inverses) ? inverses : null,
      };
      return await encodeCheckpoint(meta, tensors);
    } finally {
      tf.dispose(Object.values(state.tensors));
    }
  }
}
