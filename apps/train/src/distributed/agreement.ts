/**
 * How the ranks of a distributed `natgrad train` stay in step outside the training step itself.
 * MPI's rule is that every rank makes the same collective calls in the same order; a rank that
 * returns early (a bad flag, a locked run folder, a backend that failed to load) while the others
 * enter the next collective leaves them blocked forever. So each phase that can fail on some ranks
 * only (setting up, loading the backend, the end of each epoch) ends with one agreement: every rank
 * contributes its exit status (0: fine) and all take the maximum. A rank whose own phase failed
 * reports its error; the others stop with the same status and say nothing (the failing rank, or
 * rank 0, has said it). Rank 0 decides what only the run folder knows (the config of a resumed run,
 * its progress) and broadcasts it; the other ranks check it against their own command line.
 */
import { type Communicator, NatgradError } from '@natgrad/core';
import { FlagError } from '../flags/flag-error';

/** Errors every rank of the world knows about (raised after an agreement): no abort is needed. */
const agreed = new WeakSet<object>();

/** Marks `error` as known to every rank (the job can finish in order: MPI_Finalize, same status). */
export function markAgreed<E>(error: E): E {
  if (typeof error === 'object' && error !== null) agreed.add(error);
  return error;
}

/** Whether every rank knows of `error`; otherwise only this rank does and the job must be aborted. */
export function isAgreed(error: unknown): boolean {
  return typeof error === 'object' && error !== null && agreed.has(error);
}

/** A phase failed on another rank: this rank stops with `exitCode`, silently. */
export class PeerFailedError extends NatgradError {
  constructor(
    readonly exitCode: number,
    phase: string,
  ) {
    super('COMMUNICATION_FAILED', `Another rank failed while ${phase}; it reported the error.`, {
      expected: `every rank ${phase} without error`,
      received: `exit status ${exitCode} from another rank`,
      fix: "read the error printed by the failing rank (rank 0's, or one prefixed with its rank)",
    });
  }
}

/** The exit status an error stands for (README: exit codes): 2 bad flags, 4 run folder in use, else 1. */
export function exitStatusOf(error: unknown): number {
  if (error instanceof PeerFailedError) return error.exitCode;
  if (error instanceof FlagError) return 2;
  const own = (error as { exitCode?: unknown } | null)?.exitCode;
  return typeof own === 'number' && Number.isInteger(own) && own > 0 ? own : 1;
}

/**
 * Runs `phase` on every rank of `world`; returns its value when it succeeded everywhere. Otherwise
 * the rank whose phase threw rethrows its own error and every other rank throws PeerFailedError
 * with the highest exit status among the failures, so all ranks leave together.
 */
export async function together<T>(world: Communicator, what: string, phase: () => Promise<T> | T): Promise<T> {
  let value: T | undefined;
  let failure: unknown = null;
  let failed = false;
  try {
    value = await phase();
  } catch (error) {
    failure = error;
    failed = true;
  }
  const [status] = await world.allreduceScalars([failed ? exitStatusOf(failure) : 0], 'max');
  if (status === 0) return value as T;
  if (failed) throw markAgreed(failure);
  throw markAgreed(new PeerFailedError(status, what));
}

/** Rank 0's JSON value on every rank (other ranks pass null). */
export async function broadcastJson<T>(world: Communicator, value: T | null): Promise<T> {
  const bytes = world.rank === 0 ? new TextEncoder().encode(JSON.stringify(value)) : null;
  return JSON.parse(new TextDecoder().decode(await world.broadcastBytes(bytes, 0))) as T;
}

/**
 * The command line every rank was started with must be rank 0's: a launcher gives all ranks the
 * same arguments, but a wrapper script or a heterogeneous srun could not, and ranks training
 * different configurations would silently average unrelated gradients. Returns the first rank
 * whose arguments differ, or null; the differing rank also learns what rank 0 had.
 */
export async function checkSameArguments(world: Communicator, argv: readonly string[]): Promise<{ rank: number; rank0: string[] } | null> {
  const rank0 = await broadcastJson<string[]>(world, world.rank === 0 ? [...argv] : null);
  const differs = JSON.stringify(rank0) !== JSON.stringify(argv);
  // min over ranks of (rank if different else size): the first differing rank, or size for none.
  const [first] = await world.allreduceScalars([differs ? world.rank : world.size], 'min');
  return first < world.size ? { rank: first, rank0 } : null;
}

/** The flag error every rank raises when the ranks were started with different arguments. */
export function differentArgumentsError(rank: number, rank0: readonly string[], mine: readonly string[] | null): FlagError {
  const received = mine === null ? `rank ${rank} was started with other arguments` : `rank ${rank}: ${mine.join(' ')}`;
  return new FlagError('train', [
    {
      flag: 'distributed',
      message: `the ranks were started with different arguments (rank 0: ${rank0.join(' ') || '(none)'}; ${received}); every rank must run the same natgrad train command`,
      expected: 'the same natgrad train arguments on every rank (mpirun -np N natgrad train <flags>)',
      received,
      fix: 'start every rank with one command line; in a wrapper script pass "$@" unchanged',
    },
  ]);
}
