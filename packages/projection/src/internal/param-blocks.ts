/**
 * Shared plumbing of the projection strategies: validation of the sub-batch gradient maps, the
 * partition of their parameters into the curvature view's blocks (the rest get the mean gradient),
 * checked calls into the view, and the block inner product <u, v> (sum of elementwise products over
 * all parameters of a block). Kept apart from the algorithms so that identity, average and FOP
 * validate and fail in exactly the same way.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type CurvatureView, NatgradError, type ParamMap, describeValue, sumTensors } from '@natgrad/core';

/** A curvature block restricted to the parameters present in the gradients (all of them or none). */
export interface ResolvedBlock {
  name: string;
  params: readonly string[];
}

export interface BlockPartition {
  blocks: ResolvedBlock[];
  /** Parameters in no block: they get the mean gradient as direction. */
  free: string[];
}

/**
 * Checks that `subBatchGrads` holds exactly `expected` maps with the same keys, same shapes, live
 * float32 tensors. Returns the parameter names in the order of the first map.
 */
export function validateSubBatchGrads(strategy: string, subBatchGrads: readonly ParamMap[], expected: number): string[] {
  if (!Array.isArray(subBatchGrads) || subBatchGrads.length !== expected) {
    throw new NatgradError('INVALID_ARGUMENT', `${strategy}: wrong number of sub-batch gradient maps.`, {
      expected: `an array of ${expected} gradient map(s), one per sub-batch`,
      received: Array.isArray(subBatchGrads) ? `${subBatchGrads.length} map(s)` : describeValue(subBatchGrads),
      fix: `split each batch into strategy.subBatches = ${expected} equal, disjoint sub-batches`,
    });
  }
  subBatchGrads.forEach((map, i) => {
    if (map === null || typeof map !== 'object' || Array.isArray(map) || map instanceof tf.Tensor) {
      throw new NatgradError('INVALID_ARGUMENT', `${strategy}: sub-batch ${i} is not a gradient map.`, {
        expected: 'an object of tensors keyed by variable name',
        received: describeValue(map),
        fix: 'pass the map returned by tf.variableGrads(...).grads',
      });
    }
  });
  const names = Object.keys(subBatchGrads[0]);
  const nameSet = new Set(names);
  for (let i = 0; i < subBatchGrads.length; i++) {
    const map = subBatchGrads[i];
    const keys = Object.keys(map);
    const missing = names.filter((n) => !(n in map));
    const extra = keys.filter((n) => !nameSet.has(n));
    if (missing.length > 0 || extra.length > 0) {
      throw new NatgradError('SHAPE_MISMATCH', `${strategy}: sub-batch gradient maps cover different parameters.`, {
        expected: `every map with the parameters of sub-batch 0 (${names.join(', ')})`,
        received: `sub-batch ${i} missing [${missing.join(', ')}], extra [${extra.join(', ')}]`,
        fix: 'compute every sub-batch gradient with respect to the same list of trainable variables',
      });
    }
    for (const name of names) {
      const t = map[name];
      if (!(t instanceof tf.Tensor)) {
        throw new NatgradError('INVALID_ARGUMENT', `${strategy}: gradient of "${name}" is not a tensor.`, {
          expected: 'a tf.Tensor',
          received: describeValue(t),
          fix: 'pass tensors, not arrays or numbers',
        });
      }
      if (t.isDisposed) {
        throw new NatgradError('DISPOSED', `${strategy}: gradient of "${name}" (sub-batch ${i}) was disposed.`, {
          expected: 'a live tensor',
          received: 'a disposed tensor',
          fix: 'dispose the gradients only after combine() returned',
        });
      }
      if (t.dtype !== 'float32') {
        throw new NatgradError('INVALID_ARGUMENT', `${strategy}: gradient of "${name}" has dtype ${t.dtype}.`, {
          expected: 'float32',
          received: t.dtype,
          fix: 'cast the gradient to float32',
        });
      }
      const ref = subBatchGrads[0][name];
      if (!tf.util.arraysEqual(t.shape, ref.shape)) {
        throw new NatgradError('SHAPE_MISMATCH', `${strategy}: gradient shapes of "${name}" differ between sub-batches.`, {
          expected: `shape [${ref.shape.join(',')}] (sub-batch 0)`,
          received: `shape [${t.shape.join(',')}] (sub-batch ${i})`,
          fix: 'compute every sub-batch gradient on the same model',
        });
      }
    }
  }
  return names;
}

/**
 * Partitions the gradient parameters into the view's blocks. A block whose parameters are all
 * absent is not part of this step (there is nothing to precondition); a block with only some of
 * them present is an error, because its inner products would silently miss a part of the layer.
 */
export function partitionBlocks(strategy: string, view: CurvatureView, names: readonly string[]): BlockPartition {
  if (
    view === null ||
    typeof view !== 'object' ||
    !Array.isArray(view.blocks) ||
    typeof view.precondition !== 'function' ||
    typeof view.multiply !== 'function'
  ) {
    throw new NatgradError('INVALID_ARGUMENT', `${strategy}: the curvature is not a CurvatureView.`, {
      expected: 'an object with blocks, precondition(grads) and multiply(vectors)',
      received: describeValue(view),
      fix: 'pass the curvature estimator (e.g. kfac()) after init()',
    });
  }
  const present = new Set(names);
  const owner = new Map<string, string>();
  const blocks: ResolvedBlock[] = [];
  for (const block of view.blocks) {
    const params: readonly string[] = block.params;
    if (!Array.isArray(params) || params.length === 0) {
      throw new NatgradError('INVALID_ARGUMENT', `${strategy}: curvature block "${block.name}" lists no parameters.`, {
        expected: 'a non-empty params array per block',
        received: describeValue(params),
        fix: 'fix the curvature estimator so every block names its parameters',
      });
    }
    for (const p of params) {
      const prev = owner.get(p);
      if (prev !== undefined) {
        throw new NatgradError('INVALID_ARGUMENT', `${strategy}: parameter "${p}" belongs to two curvature blocks.`, {
          expected: 'each parameter in at most one block',
          received: `blocks "${prev}" and "${block.name}"`,
          fix: 'register each layer once in the curvature estimator',
        });
      }
      owner.set(p, block.name);
    }
    const have = params.filter((p) => present.has(p));
    if (have.length === 0) continue;
    if (have.length !== params.length) {
      throw new NatgradError('SHAPE_MISMATCH', `${strategy}: gradients cover only part of block "${block.name}".`, {
        expected: `gradients for all of [${params.join(', ')}]`,
        received: `gradients for [${have.join(', ')}]`,
        fix: 'compute gradients for every parameter of a registered layer (weight and bias together)',
      });
    }
    blocks.push({ name: block.name, params: [...params] });
  }
  const free = names.filter((n) => !owner.has(n));
  return { blocks, free };
}

/** The parameters of all blocks, in block order. */
export function blockParams(blocks: readonly ResolvedBlock[]): string[] {
  return blocks.flatMap((b) => b.params);
}

/** A sub-map with the given keys (same tensors, no copies). */
export function pick(map: ParamMap, keys: readonly string[]): ParamMap {
  const out: ParamMap = {};
  for (const k of keys) out[k] = map[k];
  return out;
}

/**
 * Calls view.precondition / view.multiply and checks that every requested parameter came back with
 * its shape. Must run inside tf.tidy: any extra tensors the view returns are then released with it.
 */
export function applyView(
  strategy: string,
  view: CurvatureView,
  op: 'precondition' | 'multiply',
  vectors: ParamMap,
): ParamMap {
  if (Object.keys(vectors).length === 0) return {};
  return checkViewResult(strategy, op, vectors, op === 'precondition' ? view.precondition(vectors) : view.multiply(vectors));
}

/**
 * view.multiply split in two: starts it (through view.beginMultiply when the estimator has it, so
 * the products may run elsewhere meanwhile) and returns the function that finishes and checks it.
 * The finishing call must run inside tf.tidy too.
 */
export function startMultiply(strategy: string, view: CurvatureView, vectors: ParamMap): () => ParamMap {
  if (Object.keys(vectors).length === 0) return () => ({});
  if (typeof view.beginMultiply !== 'function') {
    const out = applyView(strategy, view, 'multiply', vectors);
    return () => out;
  }
  const finish = view.beginMultiply(vectors);
  return () => checkViewResult(strategy, 'multiply', vectors, finish());
}

function checkViewResult(strategy: string, op: 'precondition' | 'multiply', vectors: ParamMap, out: ParamMap): ParamMap {
  for (const [name, v] of Object.entries(vectors)) {
    const r = out?.[name];
    if (!(r instanceof tf.Tensor) || !tf.util.arraysEqual(r.shape, v.shape)) {
      throw new NatgradError('SHAPE_MISMATCH', `${strategy}: curvature ${op}() returned no valid result for "${name}".`, {
        expected: `a tensor of shape [${v.shape.join(',')}]`,
        received: describeValue(r),
        fix: `the curvature estimator must return ${op}() results for every parameter of its blocks`,
      });
    }
  }
  return out;
}

/**
 * <u, v> over a block: sum over its parameters of sum(u_p * v_p). The per-parameter sums are added
 * with sumTensors, not tf.addN: a block of 8 or more parameter tensors would exceed WebGPU's
 * storage buffers per shader stage, and the addN would silently return garbage there.
 */
export function blockDot(u: ParamMap, v: ParamMap, params: readonly string[]): tf.Scalar {
  const parts = params.map((p: string) => tf.sum(tf.mul(u[p], v[p])));
  return (parts.length === 1 ? parts[0] : sumTensors(parts)) as tf.Scalar;
}
