/**
 * One rank of the MPI tier's jobs (mpi.mpi.test.ts starts it under mpirun.openmpi/mpirun.mpich with
 * node + tsx): `node mpi-test-rank.ts <mode>`. Every expected value is computed here from the rank
 * and size (known answers), never taken from another rank, so a collective that returns the wrong
 * data, the wrong slice or another rank's order fails. Prints `rank R/N ok <mode>` on success; any
 * failure throws, which exits non-zero without MPI_Finalize, so the launcher fails the whole job.
 *
 * Modes: collectives (every call of the contract, argument errors, MPI errors, dispose), kill (rank 1
 * SIGKILLs itself while the others are inside a collective), segv (the same with SIGSEGV), responsive (rank 0 counts timer ticks
 * while awaiting a collective that the other ranks join 1.5 s late), forget-dispose (never disposes:
 * finalized by the exit handler), singleton (no launcher: a 1-rank world), bench (all-reduce
 * latency, scripts/mpi/bench-allreduce.sh). NATGRAD_MPI_LIBRARY is passed to initMpi({ library }).
 */
import { strict as assert } from 'node:assert';
import { type Communicator, NatgradError } from '@natgrad/core';
import { initMpi } from './init-mpi';

const mode = process.argv[2] ?? 'collectives';

async function rejects(promise: Promise<unknown>, code: string, pattern?: RegExp): Promise<void> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof NatgradError, `expected a NatgradError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (pattern) assert.match(error.message, pattern);
    return;
  }
  assert.fail(`expected a rejection with ${code}`);
}

function range(n: number, f: (i: number) => number): number[] {
  return Array.from({ length: n }, (_, i) => f(i));
}

function notShared(array: ArrayBufferView): void {
  assert.ok(array.buffer instanceof ArrayBuffer, 'results are ordinary (non-shared) arrays');
}

async function collectives(comm: Communicator): Promise<void> {
  const { rank, size } = comm;
  const launcherRank = Number(process.env.OMPI_COMM_WORLD_RANK ?? process.env.PMI_RANK);
  const launcherSize = Number(process.env.OMPI_COMM_WORLD_SIZE ?? process.env.PMI_SIZE);
  assert.equal(rank, launcherRank);
  assert.equal(size, launcherSize);
  assert.match(comm.engine, /^(Open MPI|MPICH) \d/);

  // allreduce: sum, max, min of integers (exact in float32 in any reduction order).
  const data = Float32Array.from(range(1000, (i) => (rank + 1) * (i + 1)));
  const sum = await comm.allreduce(data);
  const ranksSum = (size * (size + 1)) / 2;
  assert.deepEqual(Array.from(sum), range(1000, (i) => ranksSum * (i + 1)));
  assert.equal(data[0], rank + 1, 'the input array is not changed');
  notShared(sum);
  assert.deepEqual(Array.from(await comm.allreduce(Float32Array.of(rank, 10 - rank), 'max')), [size - 1, 10]);
  assert.deepEqual(Array.from(await comm.allreduce(Float32Array.of(rank, 10 - rank), 'min')), [0, 11 - size]);
  assert.equal((await comm.allreduce(new Float32Array(0))).length, 0);

  // split into parity groups (distributed FOP's g1/g2), ranked by key.
  const parity = await comm.split(rank % 2, rank);
  const members = range(size, (r) => r).filter((r) => r % 2 === rank % 2);
  assert.equal(parity.size, members.length);
  assert.equal(parity.rank, members.indexOf(rank));
  assert.equal(parity.engine, comm.engine);
  const groupSum = await parity.allreduce(Float32Array.of(rank + 1));
  assert.equal(groupSum[0], members.reduce((a, r) => a + r + 1, 0));
  // Reversed keys reverse the order; a broadcast from the group's rank 0 shows who that is.
  const reversed = await comm.split(rank % 2, -rank);
  assert.equal(reversed.rank, members.length - 1 - members.indexOf(rank));
  const fromFirst = await reversed.broadcast(Float32Array.of(rank), 0);
  assert.equal(fromFirst[0], members[members.length - 1]);
  await reversed.dispose();
  await reversed.dispose();
  await rejects(reversed.barrier(), 'DISPOSED');

  // reduceScatter with uneven counts: rank r receives counts[r] elements of the sum.
  const counts = range(size, (r) => r + 1);
  const total = counts.reduce((a, b) => a + b, 0);
  const scattered = await comm.reduceScatter(Float32Array.from(range(total, (j) => (rank + 1) * (j + 1))), counts);
  const offset = counts.slice(0, rank).reduce((a, b) => a + b, 0);
  assert.deepEqual(Array.from(scattered), range(counts[rank], (j) => ranksSum * (offset + j + 1)));

  // allgatherv with uneven counts, rank 0 contributing nothing.
  const gatherCounts = range(size, (r) => 2 * r);
  const gathered = await comm.allgatherv(Float32Array.from(range(gatherCounts[rank], (i) => rank * 100 + i)), gatherCounts);
  assert.deepEqual(
    Array.from(gathered),
    range(size, (r) => r).flatMap((r) => range(gatherCounts[r], (i) => r * 100 + i)),
  );
  // The parity group gathers in its own rank order.
  const groupGathered = await parity.allgatherv(Float32Array.of(rank), range(parity.size, () => 1));
  assert.deepEqual(Array.from(groupGathered), members);

  // sendrecv around a ring, each rank sending its own length (rank + 1), with a tag.
  const next = (rank + 1) % size;
  const previous = (rank - 1 + size) % size;
  const received = await comm.sendrecv(Float32Array.from(range(rank + 1, (i) => rank * 1000 + i)), next, previous + 1, previous, 7);
  assert.deepEqual(Array.from(received), range(previous + 1, (i) => previous * 1000 + i));

  // broadcast from the last rank; the others' contents are ignored.
  const root = size - 1;
  const broadcast = await comm.broadcast(rank === root ? Float32Array.of(1.5, -2, 2 ** 100) : new Float32Array(3).fill(Number.NaN), root);
  assert.deepEqual(Array.from(broadcast), [1.5, -2, 2 ** 100]);

  // broadcastBytes of a few MB (and of nothing), the receivers learning the length from the root.
  const bytesRoot = 1 % size;
  const length = 3 * 1024 * 1024 + 7;
  const pattern = (i: number) => (i * 31 + 7) & 255;
  const bytes = await comm.broadcastBytes(rank === bytesRoot ? Uint8Array.from({ length }, (_, i) => pattern(i)) : null, bytesRoot);
  assert.equal(bytes.length, length);
  for (let i = 0; i < length; i += 4099) assert.equal(bytes[i], pattern(i));
  assert.equal(bytes[length - 1], pattern(length - 1));
  notShared(bytes);
  assert.equal(new TextDecoder().decode(bytes.subarray(0, 0)), '');
  assert.equal((await comm.broadcastBytes(rank === 0 ? new Uint8Array(0) : null, 0)).length, 0);

  // allreduceScalars in float64: a sum float32 could not represent exactly.
  const scalars = await comm.allreduceScalars([rank, 1e-9 * (rank + 1), 2 ** 40 + rank]);
  assert.equal(scalars[0], (size * (size - 1)) / 2);
  assert.ok(Math.abs(scalars[1] - 1e-9 * ranksSum) < 1e-22);
  assert.equal(scalars[2], size * 2 ** 40 + (size * (size - 1)) / 2);
  assert.deepEqual(await comm.allreduceScalars([rank, 10 - rank], 'max'), [size - 1, 10]);
  assert.deepEqual(await comm.allreduceScalars([rank, 10 - rank], 'min'), [0, 11 - size]);

  await comm.barrier();

  // Calls that queue behind each other match in call order across ranks.
  const queued = await Promise.all([comm.allreduce(Float32Array.of(1)), parity.allreduce(Float32Array.of(1)), comm.allreduceScalars([2])]);
  assert.deepEqual(queued.map((q) => q[0]), [size, parity.size, 2 * size]);

  // Bad arguments are refused on the calling rank, before any MPI call.
  await rejects(comm.allreduce(new Float64Array(2) as never), 'INVALID_ARGUMENT', /Float32Array/);
  await rejects(comm.allreduce(new Float32Array(2), 'prod' as never), 'INVALID_ARGUMENT', /'sum', 'max' or 'min'/);
  await rejects(comm.reduceScatter(new Float32Array(3), [3]), 'INVALID_ARGUMENT', /counts/);
  await rejects(comm.reduceScatter(new Float32Array(3), range(size, () => 1)), 'INVALID_ARGUMENT', /sum\(counts\)/);
  await rejects(comm.allgatherv(new Float32Array(5), range(size, () => 1)), 'INVALID_ARGUMENT', /counts\[/);
  await rejects(comm.sendrecv(new Float32Array(1), size, 1, 0), 'INVALID_ARGUMENT', /dest/);
  await rejects(comm.sendrecv(new Float32Array(1), 0, -1, 0), 'INVALID_ARGUMENT', /receiveCount/);
  await rejects(comm.sendrecv(new Float32Array(1), 0, 1, 0, 40000), 'INVALID_ARGUMENT', /tag/);
  await rejects(comm.broadcast(new Float32Array(1), -1), 'INVALID_ARGUMENT', /root/);
  await rejects(comm.broadcastBytes(null, rank), 'INVALID_ARGUMENT', /root passed no bytes/);
  await rejects(comm.split(-1, 0), 'INVALID_ARGUMENT', /color/);
  await rejects(comm.allreduceScalars(['1' as never]), 'INVALID_ARGUMENT', /numbers/);

  // An error inside MPI becomes COMMUNICATION_FAILED with the library's message: every rank sends
  // one float more than its receiver expects (MPI_ERR_TRUNCATE), then one fewer (checked count).
  await rejects(comm.sendrecv(Float32Array.of(1, 2), next, 1, previous), 'COMMUNICATION_FAILED', /MPI_Sendrecv failed: .*trunc/i);
  await comm.barrier();
  await rejects(comm.sendrecv(Float32Array.of(1), next, 2, previous), 'COMMUNICATION_FAILED', /received 1 floats .* 2 were expected/);
  await comm.barrier();

  await parity.dispose();
  await comm.dispose();
  await comm.dispose();
  await rejects(comm.allreduce(new Float32Array(1)), 'DISPOSED');
  await rejects(parity.allreduce(new Float32Array(1)), 'DISPOSED');
  await rejects(initMpi(), 'DISPOSED', /finalized/);
}

async function kill(comm: Communicator, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const big = new Float32Array(100_000).fill(1);
  // Rank 1 dies (SIGKILL: no handler, no MPI_Finalize) while every rank is inside all-reduces.
  if (comm.rank === 1) setTimeout(() => process.kill(process.pid, signal), 1000);
  const end = Date.now() + 120_000;
  while (Date.now() < end) await comm.allreduce(big);
  throw new Error('the job outlived its killed rank by two minutes');
}

async function responsive(comm: Communicator): Promise<void> {
  if (comm.rank !== 0) {
    await new Promise((resolve) => setTimeout(resolve, 1500));
    await comm.allreduce(Float32Array.of(1));
  } else {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const started = performance.now();
    const result = await comm.allreduce(Float32Array.of(1));
    const waited = performance.now() - started;
    clearInterval(timer);
    assert.equal(result[0], comm.size);
    assert.ok(waited >= 1000, `the all-reduce waited for the late ranks (${waited.toFixed(0)} ms)`);
    // A blocked event loop would fire the 10 ms interval at most once during the wait.
    assert.ok(ticks >= 20, `the timer fired ${ticks} times during a ${waited.toFixed(0)} ms collective`);
    console.log(`rank 0: ${ticks} timer ticks during a ${waited.toFixed(0)} ms all-reduce`);
  }
  await comm.dispose();
}

async function forgetDispose(comm: Communicator): Promise<void> {
  const sum = await comm.allreduce(Float32Array.of(1));
  assert.equal(sum[0], comm.size);
  // No dispose(): the 'exit' handler finalizes, or the launcher would fail the job.
}

async function singleton(comm: Communicator): Promise<void> {
  // Started without a launcher: MPI runs as a 1-rank world, every collective the identity.
  assert.equal(comm.size, 1);
  assert.equal(comm.rank, 0);
  assert.deepEqual(Array.from(await comm.allreduce(Float32Array.of(1, 2))), [1, 2]);
  const self = await comm.split(0, 0);
  assert.equal(self.size, 1);
  assert.deepEqual(Array.from(await self.allgatherv(Float32Array.of(3), [1])), [3]);
  assert.deepEqual(Array.from(await comm.broadcastBytes(Uint8Array.of(9, 8), 0)), [9, 8]);
  await self.dispose();
  await comm.dispose();
}

async function bench(comm: Communicator): Promise<void> {
  const n = Number(process.env.BENCH_FLOATS ?? 535_818);
  const repeats = Number(process.env.BENCH_REPEATS ?? 200);
  const data = new Float32Array(n).fill(1);
  for (let i = 0; i < 20; i++) await comm.allreduce(data);
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    await comm.barrier();
    const started = performance.now();
    await comm.allreduce(data);
    times.push(performance.now() - started);
  }
  times.sort((a, b) => a - b);
  const worst = await comm.allreduceScalars([times[Math.floor(repeats / 2)], times[Math.floor(repeats * 0.9)]], 'max');
  if (comm.rank === 0) {
    console.log(`BENCH engine=${comm.engine} ranks=${comm.size} floats=${n} repeats=${repeats} median_ms=${worst[0].toFixed(3)} p90_ms=${worst[1].toFixed(3)}`);
  }
  await comm.dispose();
}

const comm = await initMpi({ library: process.env.NATGRAD_MPI_LIBRARY ?? 'auto' });
// A crash (SIGSEGV) must kill the rank, not run a library's crash handler that can hang (init-mpi.ts).
const segv = (c: Communicator) => kill(c, 'SIGSEGV');
const run = { collectives, kill, segv, responsive, 'forget-dispose': forgetDispose, singleton, bench }[mode];
if (run === undefined) throw new Error(`unknown mode ${mode}`);
await run(comm);
console.log(`rank ${comm.rank}/${comm.size} ok ${mode}`);
