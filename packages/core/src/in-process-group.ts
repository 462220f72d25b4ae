/**
 * createInProcessGroup(): N simulated ranks of one job inside one JavaScript process, each a
 * Communicator with MPI's semantics, so distributed training can be tested (and run in a browser)
 * without an MPI installation. Why it mirrors MPI rather than being a convenient shortcut: the
 * trainer's distributed code must behave the same on @natgrad/comm-mpi, so collectives match by
 * call order on each communicator, a call whose kind, operation, length, counts or root differs
 * from a peer's call at the same position rejects on every rank (naming both calls), sums are
 * float32 accumulated in rank order (as an MPI reduction of MPI_FLOAT is: one deterministic order,
 * identical on every rank), and a rank that leaves (dispose), aborts or never joins (timeoutMs)
 * makes its peers reject with COMMUNICATION_FAILED instead of hanging. One failure breaks the whole
 * group, as an MPI error aborts the whole job: after it every call rejects.
 */
import type { Communicator, ReduceOp } from './communicator';
import { NatgradError, describeValue } from './errors';

export interface InProcessGroupOptions {
  /**
   * How long a call waits for its peers before it rejects (COMMUNICATION_FAILED) and breaks the
   * group. Default 60000 ms; 0 waits forever.
   */
  timeoutMs?: number;
}

/** One pending collective at a position of a communicator's call sequence. */
interface PendingCall {
  kind: string;
  /** What must match between ranks (kind, op, length, counts, root), as text for the error. */
  signature: string;
  /** The first rank that made the call (named in a mismatch error). */
  firstRank: number;
  inputs: Map<number, unknown>;
  waiters: Map<number, { resolve: (v: unknown) => void; reject: (e: unknown) => void }>;
  finish: (inputs: Map<number, unknown>) => Map<number, unknown>;
}

/** The failure domain of one createInProcessGroup() call: every communicator split from it shares it. */
class Domain {
  failure: NatgradError | null = null;
  private readonly hubs = new Set<Hub>();

  constructor(readonly timeoutMs: number) {}

  register(hub: Hub): void {
    this.hubs.add(hub);
  }

  /** Breaks the group: every pending call on every communicator rejects, and every later one. */
  fail(error: NatgradError): void {
    if (this.failure !== null) return;
    this.failure = error;
    for (const hub of this.hubs) hub.rejectAll(error);
  }
}

/** The shared side of one communicator: its members and the calls in flight. */
class Hub {
  private readonly pending = new Map<number, PendingCall>();
  private readonly mailboxes = new Map<string, { data: Float32Array[]; waiting: ((d: Float32Array) => void)[] }>();
  private readonly receivers = new Set<{ reject: (e: unknown) => void }>();
  readonly departed = new Set<number>();

  constructor(
    readonly domain: Domain,
    readonly name: string,
    readonly size: number,
  ) {
    domain.register(this);
  }

  /** Joins the collective at position `seq`; resolves with this rank's result. */
  join<T>(seq: number, rank: number, call: Omit<PendingCall, 'inputs' | 'waiters' | 'firstRank'>, input: unknown): Promise<T> {
    const failure = this.domain.failure;
    if (failure !== null) return Promise.reject(failure);
    return new Promise<T>((resolve, reject) => {
      let p = this.pending.get(seq);
      if (p === undefined) {
        p = { ...call, firstRank: rank, inputs: new Map(), waiters: new Map() };
        this.pending.set(seq, p);
      } else if (p.signature !== call.signature) {
        const error = failed(
          `${this.name}: ranks made different collective calls at call #${seq}.`,
          `every rank making the same call in the same order (rank ${p.firstRank}: ${p.signature})`,
          `rank ${rank}: ${call.signature}`,
          'make every rank execute the same sequence of collectives with the same lengths (MPI rule)',
        );
        reject(error);
        this.domain.fail(error);
        return;
      }
      p.inputs.set(rank, input);
      p.waiters.set(rank, { resolve: resolve as (v: unknown) => void, reject });
      const timer = this.startTimer(seq, rank, p.signature, reject);
      const settle = p.waiters.get(rank)!;
      p.waiters.set(rank, {
        resolve: (v) => {
          if (timer !== null) clearTimeout(timer);
          settle.resolve(v);
        },
        reject: (e) => {
          if (timer !== null) clearTimeout(timer);
          settle.reject(e);
        },
      });
      const gone = [...this.departed].filter((r) => !p.inputs.has(r));
      if (gone.length > 0) {
        this.domain.fail(failed(`${this.name}: rank ${gone[0]} left before joining call #${seq} (${p.signature}).`, 'every rank alive until the job ends', `rank ${gone[0]} disposed its communicator`, 'find why that rank stopped (its own error is the cause)'));
        return;
      }
      if (p.inputs.size === this.size) {
        this.pending.delete(seq);
        let results: Map<number, unknown>;
        try {
          results = p.finish(p.inputs);
        } catch (err) {
          const error = err instanceof NatgradError ? err : failed(`${this.name}: call #${seq} failed.`, 'a completed collective', String(err), 'report this as a bug');
          for (const w of p.waiters.values()) w.reject(error);
          this.domain.fail(error);
          return;
        }
        for (const [r, w] of p.waiters) w.resolve(results.get(r));
      }
    });
  }

  /** Buffered send (never blocks, so a pairwise exchange cannot deadlock). */
  send(from: number, to: number, tag: number, data: Float32Array): void {
    const box = this.mailbox(from, to, tag);
    const waiter = box.waiting.shift();
    if (waiter !== undefined) waiter(data);
    else box.data.push(data);
  }

  receive(from: number, to: number, tag: number): Promise<Float32Array> {
    const failure = this.domain.failure;
    if (failure !== null) return Promise.reject(failure);
    const box = this.mailbox(from, to, tag);
    const ready = box.data.shift();
    if (ready !== undefined) return Promise.resolve(ready);
    if (this.departed.has(from)) {
      const error = failed(`${this.name}: rank ${to} waits for a message from rank ${from}, which has left.`, `rank ${from} alive`, `rank ${from} disposed its communicator`, 'find why that rank stopped');
      this.domain.fail(error);
      return Promise.reject(error);
    }
    return new Promise<Float32Array>((resolve, reject) => {
      const timer = this.startTimer(-1, to, `sendrecv from rank ${from} (tag ${tag})`, reject);
      // Every way out clears the timer: a pending one would keep a finished process alive.
      const entry = {
        reject: (e: unknown) => {
          if (timer !== null) clearTimeout(timer);
          reject(e);
        },
      };
      this.receivers.add(entry);
      box.waiting.push((d) => {
        if (timer !== null) clearTimeout(timer);
        this.receivers.delete(entry);
        resolve(d);
      });
    });
  }

  /** A rank disposed its communicator: calls waiting for it can never complete. */
  depart(rank: number): void {
    this.departed.add(rank);
    const waitingForIt = [...this.pending.entries()].find(([, p]) => p.inputs.size > 0 && !p.inputs.has(rank));
    if (waitingForIt !== undefined) {
      const [seq, p] = waitingForIt;
      this.domain.fail(failed(`${this.name}: rank ${rank} left while its peers wait in call #${seq} (${p.signature}).`, 'every rank alive until the job ends', `rank ${rank} disposed its communicator`, 'find why that rank stopped (its own error is the cause)'));
    }
  }

  rejectAll(error: NatgradError): void {
    for (const p of this.pending.values()) for (const w of p.waiters.values()) w.reject(error);
    this.pending.clear();
    for (const r of this.receivers) r.reject(error);
    this.receivers.clear();
  }

  private mailbox(from: number, to: number, tag: number) {
    const key = `${from}>${to}#${tag}`;
    let box = this.mailboxes.get(key);
    if (box === undefined) {
      box = { data: [], waiting: [] };
      this.mailboxes.set(key, box);
    }
    return box;
  }

  private startTimer(seq: number, rank: number, what: string, reject: (e: unknown) => void): ReturnType<typeof setTimeout> | null {
    const ms = this.domain.timeoutMs;
    if (ms === 0) return null;
    return setTimeout(() => {
      const error = failed(
        `${this.name}: rank ${rank} waited ${ms} ms for its peers in ${seq >= 0 ? `call #${seq}` : 'a point-to-point receive'} (${what}).`,
        'every rank joining the call',
        `no result after ${ms} ms`,
        'a peer stopped or runs a different sequence of calls; raise timeoutMs if it is only slow',
      );
      reject(error);
      this.domain.fail(error);
    }, ms);
  }
}

function failed(summary: string, expected: string, received: string, fix: string): NatgradError {
  return new NatgradError('COMMUNICATION_FAILED', summary, { expected, received, fix });
}

function invalid(what: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `in-process communicator: invalid ${what}.`, { expected, received: describeValue(received), fix });
}

const OPS: readonly ReduceOp[] = ['sum', 'max', 'min'];

function reduceInto(acc: Float32Array | Float64Array, x: ArrayLike<number>, op: ReduceOp): void {
  if (op === 'sum') for (let i = 0; i < acc.length; i++) acc[i] += x[i];
  else if (op === 'max') for (let i = 0; i < acc.length; i++) acc[i] = Math.max(acc[i], x[i]);
  else for (let i = 0; i < acc.length; i++) acc[i] = Math.min(acc[i], x[i]);
}

class InProcessCommunicator implements Communicator {
  readonly engine = 'in-process';
  private seq = 0;
  private disposed = false;

  constructor(
    private readonly hub: Hub,
    readonly rank: number,
  ) {}

  get size(): number {
    return this.hub.size;
  }

  async split(color: number, key: number): Promise<Communicator> {
    this.alive('split');
    if (!Number.isInteger(color) || color < 0) this.bad(invalid('split color', 'an integer >= 0', color, 'pass e.g. rank % 2'));
    if (!Number.isFinite(key)) this.bad(invalid('split key', 'a finite number', key, 'pass e.g. the rank'));
    const hub = this.hub;
    const parentName = hub.name;
    return this.collective<Communicator>('split', 'split', { color, key }, (inputs) => {
      const byColor = new Map<number, { rank: number; key: number }[]>();
      for (const [rank, v] of inputs) {
        const { color: c, key: k } = v as { color: number; key: number };
        if (!byColor.has(c)) byColor.set(c, []);
        byColor.get(c)!.push({ rank, key: k });
      }
      const out = new Map<number, unknown>();
      for (const [c, members] of byColor) {
        members.sort((a, b) => a.key - b.key || a.rank - b.rank);
        const child = new Hub(hub.domain, `${parentName}/split(color ${c})`, members.length);
        members.forEach((m, i) => {
          out.set(m.rank, new InProcessCommunicator(child, i));
        });
      }
      return out;
    });
  }

  async allreduce(data: Float32Array, op: ReduceOp = 'sum'): Promise<Float32Array> {
    this.alive('allreduce');
    this.floats('allreduce', data);
    this.op('allreduce', op);
    const n = data.length;
    return this.collective('allreduce', `allreduce(length ${n}, ${op})`, data.slice(), (inputs) => {
      const acc = this.reduce(new Float32Array(n), inputs, op);
      return this.each(inputs, () => acc.slice());
    });
  }

  async reduceScatter(data: Float32Array, counts: readonly number[]): Promise<Float32Array> {
    this.alive('reduceScatter');
    this.floats('reduceScatter', data);
    const c = this.counts('reduceScatter', counts);
    const total = c.reduce((a, b) => a + b, 0);
    if (data.length !== total) this.bad(invalid('reduceScatter data length', `sum(counts) = ${total}`, `length ${data.length}`, 'pass one entry per element of data in counts'));
    return this.collective('reduceScatter', `reduceScatter(counts [${c.join(',')}])`, data.slice(), (inputs) => {
      const acc = this.reduce(new Float32Array(total), inputs, 'sum');
      const out = new Map<number, unknown>();
      let offset = 0;
      c.forEach((count, r) => {
        out.set(r, acc.slice(offset, offset + count));
        offset += count;
      });
      return out;
    });
  }

  async allgatherv(data: Float32Array, counts: readonly number[]): Promise<Float32Array> {
    this.alive('allgatherv');
    this.floats('allgatherv', data);
    const c = this.counts('allgatherv', counts);
    if (data.length !== c[this.rank]) this.bad(invalid('allgatherv data length', `counts[${this.rank}] = ${c[this.rank]}`, `length ${data.length}`, "pass this rank's own count at counts[rank]"));
    const total = c.reduce((a, b) => a + b, 0);
    return this.collective('allgatherv', `allgatherv(counts [${c.join(',')}])`, data.slice(), (inputs) => {
      const all = new Float32Array(total);
      let offset = 0;
      this.ordered(inputs).forEach((x) => {
        all.set(x, offset);
        offset += x.length;
      });
      return this.each(inputs, () => all.slice());
    });
  }

  async sendrecv(data: Float32Array, dest: number, receiveCount: number, source: number, tag = 0): Promise<Float32Array> {
    this.alive('sendrecv');
    this.floats('sendrecv', data);
    this.peer('sendrecv dest', dest);
    this.peer('sendrecv source', source);
    if (!Number.isInteger(receiveCount) || receiveCount < 0) this.bad(invalid('sendrecv receiveCount', 'an integer >= 0', receiveCount, 'pass the length the source sends'));
    if (!Number.isInteger(tag) || tag < 0) this.bad(invalid('sendrecv tag', 'an integer >= 0', tag, 'omit tag or pass e.g. 0'));
    this.hub.send(this.rank, dest, tag, data.slice());
    const received = await this.hub.receive(source, this.rank, tag);
    if (received.length !== receiveCount) {
      const error = failed(
        `${this.hub.name}: rank ${this.rank} expected ${receiveCount} elements from rank ${source} (tag ${tag}).`,
        `${receiveCount} elements`,
        `${received.length} elements`,
        'both sides of a sendrecv must agree on the message length',
      );
      this.hub.domain.fail(error);
      throw error;
    }
    return received;
  }

  async broadcast(data: Float32Array, root: number): Promise<Float32Array> {
    this.alive('broadcast');
    this.floats('broadcast', data);
    this.peer('broadcast root', root);
    const n = data.length;
    return this.collective('broadcast', `broadcast(length ${n}, root ${root})`, this.rank === root ? data.slice() : null, (inputs) => {
      const value = inputs.get(root) as Float32Array;
      return this.each(inputs, () => value.slice());
    });
  }

  async broadcastBytes(data: Uint8Array | null, root: number): Promise<Uint8Array> {
    this.alive('broadcastBytes');
    this.peer('broadcastBytes root', root);
    if (this.rank === root && !(data instanceof Uint8Array)) this.bad(invalid('broadcastBytes data on the root', 'a Uint8Array', data, 'pass the bytes on the root rank (null elsewhere)'));
    return this.collective('broadcastBytes', `broadcastBytes(root ${root})`, this.rank === root ? (data as Uint8Array).slice() : null, (inputs) => {
      const value = inputs.get(root) as Uint8Array;
      return this.each(inputs, () => value.slice());
    });
  }

  async allreduceScalars(values: readonly number[], op: ReduceOp = 'sum'): Promise<number[]> {
    this.alive('allreduceScalars');
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'number')) this.bad(invalid('allreduceScalars values', 'an array of numbers', values, 'pass e.g. [lossSum, count]'));
    this.op('allreduceScalars', op);
    const n = values.length;
    return this.collective('allreduceScalars', `allreduceScalars(${n} values, ${op})`, [...values], (inputs) => {
      const acc = this.reduce(new Float64Array(n), inputs, op);
      return this.each(inputs, () => Array.from(acc));
    });
  }

  async barrier(): Promise<void> {
    this.alive('barrier');
    await this.collective('barrier', 'barrier()', null, (inputs) => this.each(inputs, () => undefined));
  }

  /** Breaks the whole group with `reason` (what MPI_Abort does to a job): every pending and later call rejects. */
  abort(reason: string): void {
    this.hub.domain.fail(failed(`${this.hub.name}: rank ${this.rank} aborted the job.`, 'every rank completing its work', String(reason), "see the aborting rank's own error"));
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.hub.depart(this.rank);
  }

  private collective<T>(kind: string, signature: string, input: unknown, finish: (inputs: Map<number, unknown>) => Map<number, unknown>): Promise<T> {
    const seq = this.seq++;
    return this.hub.join<T>(seq, this.rank, { kind, signature, finish }, input);
  }

  /** Inputs in rank order. */
  private ordered(inputs: Map<number, unknown>): Float32Array[] {
    return Array.from({ length: this.hub.size }, (_, r) => inputs.get(r) as Float32Array);
  }

  /** The element-wise reduction of the inputs, in rank order, into `acc` (float32 or float64). */
  private reduce<A extends Float32Array | Float64Array>(acc: A, inputs: Map<number, unknown>, op: ReduceOp): A {
    this.ordered(inputs).forEach((x, r) => {
      if (r === 0) acc.set(x);
      else reduceInto(acc, x, op);
    });
    return acc;
  }

  private each(inputs: Map<number, unknown>, make: () => unknown): Map<number, unknown> {
    return new Map([...inputs.keys()].map((r) => [r, make()]));
  }

  private alive(what: string): void {
    if (this.disposed) {
      throw new NatgradError('DISPOSED', `in-process communicator: ${what} called after dispose().`, {
        expected: 'a live communicator',
        received: `rank ${this.rank} of ${this.hub.name}, disposed`,
        fix: 'make every collective call before dispose()',
      });
    }
  }

  /** An argument error on one rank would leave its peers waiting: it breaks the group too. */
  private bad(error: NatgradError): never {
    this.hub.domain.fail(failed(`${this.hub.name}: rank ${this.rank} passed an invalid argument.`, 'valid arguments on every rank', error.message.split('\n')[0], "see that rank's INVALID_ARGUMENT error"));
    throw error;
  }

  private floats(what: string, data: unknown): void {
    if (!(data instanceof Float32Array)) this.bad(invalid(`${what} data`, 'a Float32Array', data, 'copy the values into a Float32Array'));
  }

  private op(what: string, op: unknown): void {
    if (!OPS.includes(op as ReduceOp)) this.bad(invalid(`${what} op`, "'sum', 'max' or 'min'", op, "omit op for 'sum'"));
  }

  private peer(what: string, r: unknown): void {
    if (typeof r !== 'number' || !Number.isInteger(r) || r < 0 || r >= this.hub.size) {
      this.bad(invalid(what, `a rank in [0, ${this.hub.size - 1}]`, r, 'pass the rank inside this communicator'));
    }
  }

  private counts(what: string, counts: unknown): number[] {
    if (!Array.isArray(counts) || counts.length !== this.hub.size || counts.some((c) => !Number.isInteger(c) || c < 0)) {
      this.bad(invalid(`${what} counts`, `${this.hub.size} integers >= 0 (one per rank)`, counts, 'pass one element count per rank'));
    }
    return [...(counts as number[])];
  }
}

/**
 * N ranks of one simulated job; element r is rank r's world communicator. Each rank must be driven
 * by its own asynchronous task (Promise.all over the ranks), as separate processes would be.
 */
export function createInProcessGroup(size: number, options: InProcessGroupOptions = {}): Communicator[] {
  if (!Number.isInteger(size) || size < 1) {
    throw invalid('group size', 'an integer >= 1', size, 'pass the number of ranks, e.g. createInProcessGroup(4)');
  }
  if (options === null || typeof options !== 'object') throw invalid('options', '{ timeoutMs? }', options, 'omit the options or pass { timeoutMs: 5000 }');
  const timeoutMs = options.timeoutMs ?? 60_000;
  if (typeof timeoutMs !== 'number' || !Number.isFinite(timeoutMs) || timeoutMs < 0) {
    throw invalid('timeoutMs', 'a finite number of milliseconds >= 0 (0: wait forever)', timeoutMs, 'pass e.g. { timeoutMs: 5000 }');
  }
  const hub = new Hub(new Domain(timeoutMs), 'in-process world', size);
  return Array.from({ length: size }, (_, r) => new InProcessCommunicator(hub, r));
}
