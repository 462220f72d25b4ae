/**
 * The two damped inverses of a Kronecker block F = A (x) G and how they act on a block matrix W~.
 *
 * 'pi' (default; Martens & Grosse 2015, sec. 6.3, factored Tikhonov damping, eq. in 6.3):
 *   pi = sqrt((tr A / dim A) / (tr G / dim G)),  lambda_A = sqrt(lambda) pi,  lambda_G = sqrt(lambda) / pi
 *   F^-1 w = (A + lambda_A I)^-1 W~ (G + lambda_G I)^-1  = ((A+lambda_A I) (x) (G+lambda_G I))^-1 vec(W~)
 * pi balances the two factors' scales so that the added lambda (x)-terms are as small as possible;
 * when a trace is zero (a factor with no signal yet) pi is taken as 1.
 *
 * 'eigen' (exact damping in the Kronecker eigenbasis; George et al. 2018, EKFAC, and kfac-pytorch's
 * eigen method): A = Q_A diag(d_A) Q_A^T, G = Q_G diag(d_G) Q_G^T and
 *   F^-1 w = (A (x) G + lambda I)^-1 vec(W~) = Q_A [ (Q_A^T W~ Q_G) / (d_A d_G^T + lambda) ] Q_G^T.
 * The elementwise reciprocal 1/(d_A d_G^T + lambda) is cached, so applying it is four matMuls.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { type LinalgMethod, dampedInverses, eigh } from '@natgrad/linalg';
import { matMulT } from '../shared/matmul';

export type DampingMode = 'pi' | 'eigen';
export type { LinalgMethod };

export interface PiInverse {
  kind: 'pi';
  aInv: tf.Tensor2D;
  gInv: tf.Tensor2D;
  lambdaA: number;
  lambdaG: number;
}

export interface EigenInverse {
  kind: 'eigen';
  qA: tf.Tensor2D;
  qG: tf.Tensor2D;
  /** 1 / (d_A d_G^T + lambda), shape [dim A, dim G]. */
  scale: tf.Tensor2D;
}

export type BlockInverse = PiInverse | EigenInverse;

/** lambda_A, lambda_G of factored Tikhonov damping from the factors' traces (host numbers). */
function piDampings(
  traceA: number,
  dimA: number,
  traceG: number,
  dimG: number,
  damping: number,
): { lambdaA: number; lambdaG: number; pi: number } {
  const meanA = traceA / dimA;
  const meanG = traceG / dimG;
  const pi = meanA > 0 && meanG > 0 ? Math.sqrt(meanA / meanG) : 1;
  const root = Math.sqrt(damping);
  return { lambdaA: root * pi, lambdaG: root / pi, pi };
}

/**
 * Damped inverses of every block from its (debiased, undamped) factors, which stay the caller's
 * and must stay alive until the promise settles. One device read, awaited: the traces and element
 * sums of all factors (the sums make a NaN anywhere in a factor visible), packed in one tensor.
 */
export async function computeInverses(
  factors: readonly { name: string; a: tf.Tensor2D; g: tf.Tensor2D }[],
  damping: number,
  mode: DampingMode,
  method: LinalgMethod,
  previous: readonly BlockInverse[] | null = null,
): Promise<BlockInverse[]> {
  const summary = tf.tidy(() =>
    tf.stack(factors.flatMap(({ a, g }) => [tf.sum(tf.mul(a, tf.eye(a.shape[0]))), tf.sum(tf.mul(g, tf.eye(g.shape[0]))), tf.sum(a), tf.sum(g)])),
  );
  let host: Float32Array;
  try {
    host = (await summary.data()) as Float32Array;
  } finally {
    summary.dispose();
  }
  factors.forEach(({ name }, i) => {
    for (let k = 0; k < 4; k++) {
      if (!Number.isFinite(host[4 * i + k])) {
        throw new NatgradError('NON_FINITE_INPUT', `KFAC: the statistics of layer "${name}" are not finite.`, {
          expected: 'finite factors A and G',
          received: `${k % 2 === 0 ? 'A' : 'G'} ${k < 2 ? 'trace' : 'sum'} = ${host[4 * i + k]}`,
          fix: 'a non-finite loss or activation reached updateStatistics; fix the divergence and restore the last good state',
        });
      }
    }
  });
  if (mode === 'pi') {
    const matrices: tf.Tensor2D[] = [];
    const dampings: number[] = [];
    const lambdas = factors.map(({ a, g }, i) => {
      const l = piDampings(host[4 * i], a.shape[0], host[4 * i + 1], g.shape[0], damping);
      matrices.push(a, g);
      dampings.push(l.lambdaA, l.lambdaG);
      return l;
    });
    // The previous inverses warm-start Newton-Schulz (other methods ignore them): factors move
    // slowly under the EMA, so a few iterations from the old inverse replace a cold start.
    const warmStarts = previous?.flatMap((p) => (p.kind === 'pi' ? [p.aInv, p.gInv] : [undefined, undefined]));
    const inverses = await dampedInverses(matrices, dampings, warmStarts === undefined ? { method } : { method, warmStarts });
    return lambdas.map((l, i) => ({
      kind: 'pi',
      aInv: inverses[2 * i],
      gInv: inverses[2 * i + 1],
      lambdaA: l.lambdaA,
      lambdaG: l.lambdaG,
    }));
  }
  // All decompositions start at once, so that their device reads (host paths) overlap instead of
  // waiting for each other; a failure releases every result that did arrive.
  const settled = await Promise.allSettled(factors.flatMap(({ a, g }) => [eigh(a, { method }), eigh(g, { method })]));
  const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  const results = settled.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (failed !== undefined) {
    for (const r of results) tf.dispose([r.values, r.vectors]);
    throw failed.reason;
  }
  return factors.map((_, i) => {
    const ea = results[2 * i];
    const eg = results[2 * i + 1];
    const scale = tf.tidy(() => tf.reciprocal(tf.add(tf.outerProduct(ea.values, eg.values), damping)) as tf.Tensor2D);
    tf.dispose([ea.values, eg.values]);
    return { kind: 'eigen', qA: ea.vectors, qG: eg.vectors, scale };
  });
}

/** F^-1 w for one block (call inside tidy). */
export function applyInverse(inverse: BlockInverse, w: tf.Tensor2D): tf.Tensor2D {
  if (inverse.kind === 'pi') return tf.matMul(tf.matMul(inverse.aInv, w), inverse.gInv);
  const rotated = tf.matMul(matMulT(inverse.qA, w, true, false), inverse.qG);
  return matMulT(tf.matMul(inverse.qA, tf.mul(rotated, inverse.scale)), inverse.qG, false, true);
}

export function disposeInverse(inverse: BlockInverse): void {
  if (inverse.kind === 'pi') tf.dispose([inverse.aInv, inverse.gInv]);
  else tf.dispose([inverse.qA, inverse.qG, inverse.scale]);
}

export function inverseBytes(inverse: BlockInverse): number {
  const tensors = inverse.kind === 'pi' ? [inverse.aInv, inverse.gInv] : [inverse.qA, inverse.qG, inverse.scale];
  return tensors.reduce((s, t) => s + 4 * t.size, 0);
}
