import { describe, expect, it } from 'vitest';
import type { Communicator } from './communicator';
import { NatgradError } from './errors';
import { createInProcessGroup } from './in-process-group';

/** Runs `body` on every rank concurrently, as separate processes would. */
function onRanks<T>(comms: Communicator[], body: (c: Communicator) => Promise<T>): Promise<T[]> {
  return Promise.all(comms.map(body));
}

const f32 = (xs: number[]) => Float32Array.from(xs);

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return err instanceof NatgradError ? err.code : `not a NatgradError: ${String(err)}`;
  }
  return 'resolved';
}

describe('createInProcessGroup', () => {
  it('gives every rank its rank, the size and the engine', () => {
    const comms = createInProcessGroup(3);
    expect(comms.map((c) => [c.rank, c.size, c.engine])).toEqual([
      [0, 3, 'in-process'],
      [1, 3, 'in-process'],
      [2, 3, 'in-process'],
    ]);
  });

  it('allreduce: sum, max and min, the same fresh array on every rank', async () => {
    const comms = createInProcessGroup(4);
    const inputs = comms.map((c) => f32([c.rank, -c.rank - 1, 10 * c.rank + 1]));
    const sums = await onRanks(comms, (c) => c.allreduce(inputs[c.rank]));
    for (const s of sums) expect(Array.from(s)).toEqual([6, -10, 64]);
    expect(sums[0]).not.toBe(sums[1]);
    expect(sums[0]).not.toBe(inputs[0]);
    const maxes = await onRanks(comms, (c) => c.allreduce(inputs[c.rank], 'max'));
    const mins = await onRanks(comms, (c) => c.allreduce(inputs[c.rank], 'min'));
    expect(Array.from(maxes[2])).toEqual([3, -1, 31]);
    expect(Array.from(mins[3])).toEqual([0, -4, 1]);
    // inputs are read, never written
    expect(Array.from(inputs[1])).toEqual([1, -2, 11]);
  });

  it('allreduce sums in float32, in rank order (as an MPI_FLOAT reduction)', async () => {
    const comms = createInProcessGroup(3);
    const values = [1, 2 ** -24, 2 ** -24];
    const [r] = await onRanks(comms, (c) => c.allreduce(f32([values[c.rank]])));
    // float32: (1 + 2^-24) rounds to 1, then again: the float64 sum would be 1 + 2^-23.
    expect(r[0]).toBe(1);
  });

  it('a caller changing its array after the call does not change the result', async () => {
    const comms = createInProcessGroup(2);
    const a = f32([1]);
    const p0 = comms[0].allreduce(a);
    a[0] = 100;
    const p1 = comms[1].allreduce(f32([2]));
    expect(Array.from(await p0)).toEqual([3]);
    expect(Array.from(await p1)).toEqual([3]);
  });

  it('reduceScatter: rank r gets its counts[r] slice of the sum', async () => {
    const comms = createInProcessGroup(3);
    const counts = [2, 0, 3];
    const out = await onRanks(comms, (c) => c.reduceScatter(f32([1, 2, 3, 4, 5].map((v) => v * (c.rank + 1))), counts));
    expect(Array.from(out[0])).toEqual([6, 12]);
    expect(Array.from(out[1])).toEqual([]);
    expect(Array.from(out[2])).toEqual([18, 24, 30]);
  });

  it('allgatherv: the rank-ordered concatenation on every rank', async () => {
    const comms = createInProcessGroup(3);
    const counts = [1, 3, 0];
    const data = [f32([7]), f32([1, 2, 3]), f32([])];
    const out = await onRanks(comms, (c) => c.allgatherv(data[c.rank], counts));
    for (const o of out) expect(Array.from(o)).toEqual([7, 1, 2, 3]);
  });

  it('sendrecv: pairwise exchange (both send first) and a ring shift', async () => {
    const comms = createInProcessGroup(4);
    const pairs = await onRanks(comms, (c) => c.sendrecv(f32([c.rank, c.rank]), c.rank ^ 1, 2, c.rank ^ 1));
    expect(pairs.map((p) => Array.from(p))).toEqual([
      [1, 1],
      [0, 0],
      [3, 3],
      [2, 2],
    ]);
    const ring = await onRanks(comms, (c) => c.sendrecv(f32([c.rank * 10]), (c.rank + 1) % 4, 1, (c.rank + 3) % 4, 7));
    expect(ring.map((p) => p[0])).toEqual([30, 0, 10, 20]);
  });

  it('sendrecv of a wrong length rejects on the receiver with COMMUNICATION_FAILED', async () => {
    const comms = createInProcessGroup(2, { timeoutMs: 2000 });
    const codes = await onRanks(comms, (c) => codeOf(c.sendrecv(f32(c.rank === 0 ? [1, 2] : [1]), 1 - c.rank, 1, 1 - c.rank)));
    expect(codes).toContain('COMMUNICATION_FAILED');
  });

  it("broadcast and broadcastBytes: the root's data everywhere (bytes of any length)", async () => {
    const comms = createInProcessGroup(3);
    const b = await onRanks(comms, (c) => c.broadcast(c.rank === 1 ? f32([4, 5]) : f32([0, 0]), 1));
    for (const x of b) expect(Array.from(x)).toEqual([4, 5]);
    const bytes = Uint8Array.from({ length: 1000 }, (_, i) => i % 251);
    const got = await onRanks(comms, (c) => c.broadcastBytes(c.rank === 2 ? bytes : null, 2));
    for (const g of got) expect(g).toEqual(bytes);
    expect(got[2]).not.toBe(bytes);
  });

  it('allreduceScalars in float64 and barrier', async () => {
    const comms = createInProcessGroup(3);
    // 1 + 2^-40 + 2^-40 is exact in float64 and would round to 1 in float32
    const sums = await onRanks(comms, (c) => c.allreduceScalars([c.rank === 0 ? 1 : 2 ** -40, 1 + c.rank]));
    for (const s of sums) expect(s).toEqual([1 + 2 ** -39, 6]);
    const maxes = await onRanks(comms, (c) => c.allreduceScalars([c.rank, -c.rank - 1], 'max'));
    expect(maxes[0]).toEqual([2, -1]);
    await onRanks(comms, (c) => c.barrier());
  });

  it('split: groups by color, ranked by key (ties by rank); collectives stay inside a group', async () => {
    const comms = createInProcessGroup(5);
    const subs = await onRanks(comms, (c) => c.split(c.rank % 2, c.rank === 4 ? -1 : c.rank));
    expect(subs.map((s) => [s.size, s.rank])).toEqual([
      [3, 1],
      [2, 0],
      [3, 2],
      [2, 1],
      [3, 0],
    ]);
    const sums = await onRanks(subs, (s) => s.allreduce(f32([comms[subs.indexOf(s)].rank])));
    expect(sums.map((s) => s[0])).toEqual([6, 4, 6, 4, 6]);
    // the world keeps working next to its splits
    const world = await onRanks(comms, (c) => c.allreduce(f32([1])));
    expect(world[0][0]).toBe(5);
    await onRanks(subs, (s) => s.dispose());
  });

  it('a different collective at the same position rejects on every rank, naming both calls', async () => {
    const comms = createInProcessGroup(2);
    const results = await Promise.allSettled([comms[0].allreduce(f32([1, 2])), comms[1].allgatherv(f32([1]), [1, 1])]);
    for (const r of results) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as NatgradError;
      expect(err.code).toBe('COMMUNICATION_FAILED');
      expect(err.message).toMatch(/allreduce\(length 2, sum\)/);
      expect(err.message).toMatch(/allgatherv\(counts \[1,1\]\)/);
    }
    // the group is broken afterwards, as an MPI job would be
    expect(await codeOf(comms[0].barrier())).toBe('COMMUNICATION_FAILED');
  });

  it('a mismatched length, op, counts or root rejects', async () => {
    const cases: [(c: Communicator) => Promise<unknown>, (c: Communicator) => Promise<unknown>][] = [
      [(c) => c.allreduce(f32([1, 2])), (c) => c.allreduce(f32([1]))],
      [(c) => c.allreduce(f32([1]), 'max'), (c) => c.allreduce(f32([1]), 'min')],
      [(c) => c.reduceScatter(f32([1, 2]), [1, 1]), (c) => c.reduceScatter(f32([1, 2]), [2, 0])],
      [(c) => c.broadcast(f32([1]), 0), (c) => c.broadcast(f32([1]), 1)],
      [(c) => c.allreduceScalars([1]), (c) => c.allreduceScalars([1, 2])],
    ];
    for (const [a, b] of cases) {
      const comms = createInProcessGroup(2);
      const codes = await Promise.all([codeOf(a(comms[0])), codeOf(b(comms[1]))]);
      expect(codes).toEqual(['COMMUNICATION_FAILED', 'COMMUNICATION_FAILED']);
    }
  });

  it('a rank that never joins: its peers reject after timeoutMs, and the group is broken', async () => {
    const comms = createInProcessGroup(3, { timeoutMs: 50 });
    const t0 = Date.now();
    const codes = await Promise.all([codeOf(comms[0].allreduce(f32([1]))), codeOf(comms[1].allreduce(f32([1])))]);
    expect(codes).toEqual(['COMMUNICATION_FAILED', 'COMMUNICATION_FAILED']);
    expect(Date.now() - t0).toBeLessThan(5000);
    expect(await codeOf(comms[2].allreduce(f32([1])))).toBe('COMMUNICATION_FAILED');
  });

  it('a receive that never gets its message times out', async () => {
    const comms = createInProcessGroup(2, { timeoutMs: 50 });
    expect(await codeOf(comms[0].sendrecv(f32([1]), 1, 1, 1))).toBe('COMMUNICATION_FAILED');
  });

  it('a rank that disposes while its peers wait makes them reject; later calls too', async () => {
    const comms = createInProcessGroup(3, { timeoutMs: 0 });
    const waiting = [codeOf(comms[0].allreduce(f32([1]))), codeOf(comms[1].allreduce(f32([1])))];
    await comms[2].dispose();
    expect(await Promise.all(waiting)).toEqual(['COMMUNICATION_FAILED', 'COMMUNICATION_FAILED']);
    // a rank that left before its peers call: they reject at once
    const again = createInProcessGroup(2, { timeoutMs: 0 });
    await again[1].dispose();
    expect(await codeOf(again[0].barrier())).toBe('COMMUNICATION_FAILED');
    expect(await codeOf(again[0].sendrecv(f32([1]), 1, 1, 1))).toBe('COMMUNICATION_FAILED');
  });

  it('abort breaks the group for every rank', async () => {
    const comms = createInProcessGroup(2, { timeoutMs: 0 });
    const waiting = codeOf(comms[0].allreduce(f32([1])));
    comms[1].abort?.('rank 1 failed: out of memory');
    expect(await waiting).toBe('COMMUNICATION_FAILED');
    await expect(comms[1].barrier()).rejects.toThrow(/out of memory/);
  });

  it('dispose is idempotent; a call after it is DISPOSED; all ranks disposing after their work is clean', async () => {
    const comms = createInProcessGroup(2);
    await onRanks(comms, (c) => c.barrier());
    await onRanks(comms, (c) => c.dispose());
    await comms[0].dispose();
    expect(await codeOf(comms[0].allreduce(f32([1])))).toBe('DISPOSED');
  });

  it('bad arguments are INVALID_ARGUMENT on the caller and break the group for its peers', async () => {
    expect(() => createInProcessGroup(0)).toThrow(/an integer >= 1/);
    expect(() => createInProcessGroup(2, { timeoutMs: -1 })).toThrow(NatgradError);
    const bad: ((c: Communicator) => Promise<unknown>)[] = [
      (c) => c.allreduce([1, 2] as unknown as Float32Array),
      (c) => c.allreduce(f32([1]), 'mean' as 'sum'),
      (c) => c.reduceScatter(f32([1, 2, 3]), [1, 1]),
      (c) => c.allgatherv(f32([1, 2]), [1, 1]),
      (c) => c.allgatherv(f32([1]), [1]),
      (c) => c.broadcast(f32([1]), 2),
      (c) => c.broadcastBytes(null, 0),
      (c) => c.sendrecv(f32([1]), 5, 1, 1),
      (c) => c.split(-1, 0),
    ];
    for (const call of bad) {
      const comms = createInProcessGroup(2, { timeoutMs: 0 });
      const peer = codeOf(comms[1].barrier());
      expect(await codeOf(call(comms[0]))).toBe('INVALID_ARGUMENT');
      expect(await peer).toBe('COMMUNICATION_FAILED');
    }
  });
});
