/**
 * What a Trainer checks before it trains in distributed mode, at construction (synchronously, on
 * every rank alike, so a configuration that cannot work fails before any collective is made), and
 * the configuration fingerprint the ranks compare at their first collective. Why these limits:
 * FOP's two sub-batch gradients come from the even and the odd ranks, so FOP needs an even number
 * of ranks; the owner of a layer folds the whole batch's factors into its EMA, which needs an
 * estimator whose statistics are per-layer Kronecker factors (KFAC) computed on the main thread.
 */
import { type Communicator, type CurvatureEstimator, NatgradError, type ProjectionStrategy, describeValue } from '@natgrad/core';
import { KfacEstimator } from '@natgrad/curvature';

const METHODS = ['split', 'allreduce', 'reduceScatter', 'allgatherv', 'sendrecv', 'broadcast', 'broadcastBytes', 'allreduceScalars', 'barrier', 'dispose'] as const;

/** The communicator when distributed training applies (size > 1), null otherwise. */
export function checkCommunicator(c: unknown): Communicator | null {
  if (c === undefined || c === null) return null;
  const comm = c as Partial<Communicator>;
  const missing = METHODS.filter((m) => typeof comm[m] !== 'function');
  if (typeof c !== 'object' || missing.length > 0 || !Number.isInteger(comm.size) || !Number.isInteger(comm.rank) || comm.size! < 1 || comm.rank! < 0 || comm.rank! >= comm.size!) {
    throw new NatgradError('INVALID_ARGUMENT', 'Trainer: communicator is not a Communicator.', {
      expected: 'a Communicator (initMpi() from @natgrad/comm-mpi, or createInProcessGroup(n)[rank] from @natgrad/core)',
      received: missing.length > 0 ? `an object without ${missing.join(', ')}` : `rank ${describeValue(comm.rank)} of size ${describeValue(comm.size)}`,
      fix: 'pass the world communicator of this process, or omit communicator for single-process training',
    });
  }
  return comm.size === 1 ? null : (c as Communicator);
}

/** Whether the projection takes its two sub-batch gradients from the even and the odd ranks. */
export function usesParityGroups(projection: ProjectionStrategy): boolean {
  return projection.name === 'fisherOrthogonal' && projection.subBatches === 2;
}

export function checkDistributedComposition(world: Communicator, curvature: CurvatureEstimator | null, projection: ProjectionStrategy): void {
  if (usesParityGroups(projection) && world.size % 2 !== 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'Distributed FOP needs an even number of ranks.', {
      expected: 'an even communicator size (even ranks give g1, odd ranks g2: arXiv 2508.13898, Algorithm 1)',
      received: `size ${world.size}`,
      fix: `launch ${world.size + 1} or ${world.size - 1} ranks (mpirun -np ${world.size + 1}), or use kfac()/sgd()/adamw(), which run on any number`,
    });
  }
  if (curvature === null) return;
  if (!(curvature instanceof KfacEstimator)) {
    throw new NatgradError('INVALID_ARGUMENT', `Distributed training does not support the "${curvature.name}" curvature.`, {
      expected: 'kfac() curvature (per-layer Kronecker factors, each layer owned by one rank), or no curvature (sgd(), adamw())',
      received: `curvature "${curvature.name}"`,
      fix: 'use kfac() or fop() presets with a communicator, or train this composition in a single process',
    });
  }
  if (curvature.statisticsWorker !== undefined) {
    throw new NatgradError('INVALID_ARGUMENT', 'Distributed training cannot use a KFAC statistics worker.', {
      expected: 'kfac() without statisticsWorker when a communicator is given',
      received: 'kfac({ statisticsWorker })',
      fix: 'omit statisticsWorker: in distributed mode every rank computes its own shard statistics, and a second core is better used by another rank',
    });
  }
}

/** A non-negative integer (0 = off). */
export function verifyInterval(v: unknown): number {
  const value = v ?? 100;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'Invalid verifyEvery.', {
      expected: 'an integer >= 0 (steps between replica checks; 0 turns them off)',
      received: describeValue(value),
      fix: 'pass verifyEvery such as 100, or omit it',
    });
  }
  return value;
}
