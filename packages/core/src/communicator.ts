/**
 * Collective communication between the processes of one training job.
 *
 * Why a contract: distributed FOP (arXiv 2508.13898, Algorithm 1) needs exactly the collectives of
 * MPI — all-reduce within each parity group for g1/g2, a point-to-point exchange of layer slices
 * with each layer's owner, all-gather of the owners' directions, and scalar reductions for the KL
 * clip, the damping ratio and the diagnostics. natgrad binds an existing engine for them
 * (@natgrad/comm-mpi: Open MPI or MPICH through an FFI) instead of building one; tests use the
 * in-process group of this package (createInProcessGroup), which gives the same results in one
 * process with N simulated ranks.
 *
 * Every call is collective unless it says otherwise: all ranks of the communicator make the same
 * calls in the same order (the MPI rule). Data arrays are read before the returned Promise settles
 * and never kept; results are fresh arrays the caller owns. A rank that cannot complete a call
 * (a peer died, the library failed) rejects with NatgradError('COMMUNICATION_FAILED'); it never
 * hangs silently (implementations bound their waits or rely on the launcher killing the job).
 */

/** Element-wise reduction of a collective. 'sum' is what gradients need; max/min for scalars and checks. */
export type ReduceOp = 'sum' | 'max' | 'min';

export interface Communicator {
  /** This process's index in the communicator, 0 ≤ rank < size. */
  readonly rank: number;
  /** Number of processes in the communicator. */
  readonly size: number;
  /** A short name of the engine for logs, e.g. 'in-process', 'Open MPI 4.1.4', 'MPICH 4.0.2'. */
  readonly engine: string;

  /**
   * Partitions the ranks: those passing the same `color` form a new communicator, ranked by `key`
   * (ties by this rank). Distributed FOP splits world into the even and the odd ranks.
   */
  split(color: number, key: number): Promise<Communicator>;

  /** Element-wise reduction of `data` over all ranks; every rank receives the result. */
  allreduce(data: Float32Array, op?: ReduceOp): Promise<Float32Array>;

  /**
   * Reduces `data` over all ranks (op sum) and scatters it: rank r receives the `counts[r]`
   * elements starting at sum(counts[0..r)). `data.length` must equal sum(counts) on every rank.
   */
  reduceScatter(data: Float32Array, counts: readonly number[]): Promise<Float32Array>;

  /**
   * Concatenates every rank's `data` in rank order; rank r contributes `counts[r]` elements
   * (`data.length === counts[rank]`). Every rank receives the concatenation.
   */
  allgatherv(data: Float32Array, counts: readonly number[]): Promise<Float32Array>;

  /**
   * Point-to-point, not collective: sends `data` to rank `dest` and receives `receiveCount`
   * elements from rank `source` in one deadlock-free exchange. Pairs of ranks call it together.
   */
  sendrecv(data: Float32Array, dest: number, receiveCount: number, source: number, tag?: number): Promise<Float32Array>;

  /** Rank `root`'s `data` on every rank. Non-root ranks pass an array of the same length (its contents are ignored). */
  broadcast(data: Float32Array, root: number): Promise<Float32Array>;

  /**
   * Rank `root`'s bytes on every rank, of any length (checkpoints, configurations). Non-root ranks
   * pass null and learn the length from the root.
   */
  broadcastBytes(data: Uint8Array | null, root: number): Promise<Uint8Array>;

  /** Reduction of float64 scalars (loss sums, KL terms, counts) over all ranks, returned on every rank. */
  allreduceScalars(values: readonly number[], op?: ReduceOp): Promise<number[]>;

  /** Returns when every rank has called it. */
  barrier(): Promise<void>;

  /**
   * Optional, not collective: this rank failed and the job cannot continue (its peers would wait
   * for it forever). Breaks the job the way MPI_Abort does: every pending and later call of every
   * rank rejects with COMMUNICATION_FAILED (in-process), or the launcher ends every process (MPI).
   * The trainer calls it when a distributed step fails on this rank.
   */
  abort?(reason: string): void;

  /**
   * Releases this communicator (a split one) or, on the world communicator, shuts the engine down
   * (MPI_Finalize). Idempotent. No other call is allowed afterwards (NatgradError 'DISPOSED').
   */
  dispose(): Promise<void>;
}
