/**
 * The KFAC inverse cache in a StateDict. Saving it (rather than recomputing it on load, as
 * kfac-pytorch does) is what makes a resumed run bit-identical: between two inverse refreshes the
 * cache reflects the statistics of the last refresh, which the restored factors no longer equal.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type JsonValue, type LayerInfo, NatgradError, type StateDict, factorSizes } from '@natgrad/core';
import type { BlockInverse, DampingMode } from './damping';
import { stateTensor } from '../shared/state-check';

/** The tensors of one block's cache, keyed by their name inside the block. */
export function inverseTensors(inv: BlockInverse): Record<string, tf.Tensor> {
  return inv.kind === 'pi' ? { aInv: inv.aInv, gInv: inv.gInv } : { qA: inv.qA, qG: inv.qG, scale: inv.scale };
}

/** The plain values of one block's cache. */
export function inverseValues(inv: BlockInverse): JsonValue {
  return inv.kind === 'pi' ? { kind: 'pi', lambdaA: inv.lambdaA, lambdaG: inv.lambdaG } : { kind: 'eigen' };
}

/**
 * The saved cache as live tensors (copies), or null when the state has none for `mode` (saved
 * before the first refresh, or in the other damping mode): the caller then recomputes it.
 */
export function restoreInverses(owner: string, state: StateDict, layers: readonly LayerInfo[], mode: DampingMode): BlockInverse[] | null {
  const values = state.values.inverses;
  if (values === null || values === undefined) return null;
  if (!Array.isArray(values) || values.length !== layers.length) {
    throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: inconsistent inverse cache.`, {
      expected: `null or one entry per layer (${layers.length})`,
      received: JSON.stringify(values).slice(0, 200),
      fix: 'restore a state written by getState()',
    });
  }
  if (values.some((v) => (v as { kind?: unknown })?.kind !== mode)) return null;
  const restored: BlockInverse[] = [];
  const loaded: tf.Tensor[] = [];
  // Every tensor read so far is released if a later one is missing or malformed.
  const load = (layer: LayerInfo, name: string, shape: number[]) => {
    const t = stateTensor(owner, state, `${layer.name}/inverse/${name}`, shape) as tf.Tensor2D;
    loaded.push(t);
    return t;
  };
  try {
    layers.forEach((layer, i) => {
      const { a, g } = factorSizes(layer);
      if (mode === 'eigen') {
        restored.push({ kind: 'eigen', qA: load(layer, 'qA', [a, a]), qG: load(layer, 'qG', [g, g]), scale: load(layer, 'scale', [a, g]) });
        return;
      }
      const { lambdaA, lambdaG } = values[i] as { lambdaA: number; lambdaG: number };
      if (!(lambdaA >= 0) || !(lambdaG >= 0)) {
        throw new NatgradError('CHECKPOINT_CORRUPT', `${owner}.setState: invalid damping in the inverse cache.`, {
          expected: 'non-negative lambdaA and lambdaG',
          received: `lambdaA ${lambdaA}, lambdaG ${lambdaG}`,
          fix: 'restore a state written by getState()',
        });
      }
      restored.push({ kind: 'pi', aInv: load(layer, 'aInv', [a, a]), gInv: load(layer, 'gInv', [g, g]), lambdaA, lambdaG });
    });
  } catch (err) {
    tf.dispose(loaded);
    throw err;
  }
  return restored;
}
