/**
 * initMpi(): the Communicator contract of @natgrad/core on a real MPI library (Open MPI, MPICH or
 * the MPI-5 standard ABI), bound through the koffi FFI, so nothing is compiled at install time.
 *
 * MPI lives on one dedicated worker thread (mpi-thread.mjs), initialized with MPI_THREAD_FUNNELED:
 * a collective blocks until every rank has joined, and on the main thread it would freeze the event
 * loop for that long. Each call posts a request and returns a Promise settled by the thread's reply.
 * Data moves by transfer, not through SharedArrayBuffers: the caller's array is copied once (the
 * contract says inputs are never kept) into a fresh buffer that is transferred to the thread, MPI
 * reduces it in place, and the result buffer is transferred back, so a call costs one copy, and the
 * caller receives ordinary (non-shared) arrays that TextDecoder, Buffer and tfjs accept as they are.
 *
 * Lifetime: dispose() of the world communicator calls MPI_Finalize and ends the thread. A process
 * that forgets it and exits with code 0 still finalizes in its 'exit' handler (blocking up to 60 s
 * on Atomics.wait, the only way an exit handler can wait), because a rank that exits without
 * MPI_Finalize makes the launcher fail the whole job; one that exits with an error does not wait. The thread is unref'ed while idle, so MPI never keeps a finished
 * process alive, and ref'ed while a call is in flight, so awaiting one keeps it alive.
 *
 * A peer that dies is the launcher's to handle: mpirun/mpiexec/srun kill the remaining ranks, so a
 * job with a dead rank exits with an error instead of hanging (tested in mpi.mpi.test.ts).
 */
import { Worker } from 'node:worker_threads';
import { type Communicator, NatgradError, type ReduceOp, describeValue } from '@natgrad/core';
import { type LibraryCandidate, type MpiFlavor, libraryCandidates } from './library';

export interface InitMpiOptions {
  /**
   * The MPI library: 'auto' (default: the launcher's implementation, else Open MPI, MPICH, the
   * MPI-5 ABI in that order), 'openmpi' (libmpi.so.40), 'mpich' (libmpich.so.12 and the MPICH-ABI
   * libmpi.so.12 of Intel MPI/MVAPICH), 'mpi-abi' (libmpi_abi.so, untested) or a file path.
   */
  library?: 'auto' | 'openmpi' | 'mpich' | 'mpi-abi' | (string & {});
  /**
   * The thread script; default `mpiThreadScript` (mpi-thread.mjs beside this module). A bundled
   * app copies that file (package export '@natgrad/comm-mpi/mpi-thread.mjs') next to its bundle
   * and passes its path here.
   */
  script?: string | URL;
}

/**
 * Where the default thread script is: mpi-thread.mjs beside this module (dist/ of the installed
 * package; package export '@natgrad/comm-mpi/mpi-thread.mjs'). A bundler moves this module but not
 * that file, so a bundled app copies it and passes `script`.
 */
// The CommonJS build gets import.meta.url from tsup's --shims (the package's build script).
export const mpiThreadScript: URL = new URL('./mpi-thread.mjs', import.meta.url);

/** How long the 'exit' handler waits for MPI_Finalize of a communicator never disposed. */
const EXIT_FINALIZE_TIMEOUT_MS = 60_000;
/** MPI counts are C ints. */
const MAX_COUNT = 2 ** 31 - 1;
/** MPI guarantees tags up to 32767 (MPI_TAG_UB is at least that on every implementation). */
const MAX_TAG = 32767;
const OPS: readonly ReduceOp[] = ['sum', 'max', 'min'];

/**
 * UCX settings for MPI inside Node, applied (to the real environment, before MPI is loaded) unless
 * the user set them. UCX, the transport of Debian's MPICH (ch4:ucx) and of Open MPI's pml ucx,
 * patches the process's brk/sbrk/mmap ("memory events", for its registration cache) and catches
 * SIGSEGV to print a backtrace. Measured here: a rank of a 4-rank MPICH job crashed inside glibc's
 * malloc (growing the heap for an ArrayBuffer on the main thread), and UCX's handler then called
 * backtrace_symbols, which needs the malloc lock the crashed thread held: the rank hung forever
 * and the job with it. Without UCX's signal handlers a crash kills the rank and the launcher ends
 * the job (never a hang); without memory events UCX leaves malloc alone (only the registration
 * cache of RDMA networks needs them, not shared memory or TCP). A value the user set is kept.
 */
const UCX_DEFAULTS: Readonly<Record<string, string>> = { UCX_ERROR_SIGNALS: '', UCX_MEM_EVENTS: 'no' };

const INSTALL_FIX =
  'install an MPI implementation (Debian/Ubuntu: apt install openmpi-bin, or apt install mpich; Fedora/RHEL: dnf install openmpi then module load mpi/openmpi-x86_64, or dnf install mpich then module load mpi/mpich-x86_64) or pass initMpi({ library: "/path/to/libmpi.so" })';

interface ReadyMessage {
  ready: true;
  flavor: MpiFlavor;
  file: string;
  engine: string;
  rank: number;
  size: number;
}
type StartMessage = ReadyMessage | { unavailable: { file: string; reason: string }[] } | { initFailed: string; file: string };
interface Reply {
  id: number;
  result?: unknown;
  error?: { message: string; mpi: boolean };
}

/** The process's one MPI instance: MPI cannot be initialized again after MPI_Finalize. */
let processEngine: MpiEngine | null = null;
let processFinalized = false;
/** An initMpi() in progress: a second thread calling MPI_Init in the same process would crash it. */
let processStarting = false;

function invalid(call: string, what: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `${call}: ${what}.`, { expected, received: describeValue(received), fix });
}

/** The worker thread and the requests in flight to it, shared by the world and its split communicators. */
class MpiEngine {
  private readonly pending = new Map<number, { resolve: (value: unknown) => void; reject: (error: NatgradError) => void; call: string }>();
  private nextId = 1;
  private failure: NatgradError | null = null;
  finalized = false;
  private readonly onExit = (code: number) => this.finalizeAtExit(code);

  constructor(
    private readonly worker: Worker,
    private readonly control: Int32Array,
    readonly engine: string,
  ) {
    worker.on('message', (reply: Reply) => this.settle(reply));
    worker.on('error', (error) => this.fail(`the MPI thread failed: ${error.message}`, error));
    worker.on('exit', (code) => {
      if (!this.finalized) this.fail(`the MPI thread exited (code ${code}) before MPI_Finalize`);
    });
    worker.unref();
    process.on('exit', this.onExit);
  }

  request<T>(call: string, message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<T> {
    if (this.finalized) return Promise.reject(disposedError(call));
    if (this.failure !== null) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (value: unknown) => void, reject, call });
      // Awaiting a collective must keep the process alive, like any pending I/O.
      if (this.pending.size === 1) this.worker.ref();
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  private settle(reply: Reply): void {
    const entry = this.pending.get(reply.id);
    if (entry === undefined) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) this.worker.unref();
    if (reply.error === undefined) {
      entry.resolve(reply.result);
      return;
    }
    entry.reject(
      new NatgradError(reply.error.mpi ? 'COMMUNICATION_FAILED' : 'WORKER_FAILED', `${entry.call}: ${reply.error.message}`, {
        expected: reply.error.mpi ? 'every rank making the same collective calls in the same order, with matching lengths' : 'a working MPI thread',
        received: reply.error.message,
        fix: reply.error.mpi
          ? 'check that all ranks call the same collectives with the same counts, roots and reduce ops; the MPI library error above names the call'
          : 'report this as a natgrad bug with the message above',
      }),
    );
  }

  private fail(message: string, cause?: unknown): void {
    if (this.failure !== null) return;
    this.failure = new NatgradError('COMMUNICATION_FAILED', `MPI: ${message}`, {
      expected: 'a running MPI thread',
      received: message,
      fix: 'the MPI library crashed or the thread was terminated; see the launcher output of all ranks',
      cause,
    });
    for (const entry of this.pending.values()) entry.reject(this.failure);
    this.pending.clear();
    process.off('exit', this.onExit);
  }

  async finalize(): Promise<void> {
    if (this.finalized) return;
    await this.request('dispose', { op: 'finalize' });
    this.finalized = true;
    processFinalized = true;
    process.off('exit', this.onExit);
  }

  /**
   * Synchronous: an 'exit' handler cannot await, so it blocks until the thread has finalized. Only
   * on a clean exit: a rank that fails (an exception, a non-zero exit code) must not wait in
   * MPI_Finalize for peers that may be stuck in a collective it will never join; it exits at once,
   * without finalizing, and the launcher then fails and ends the whole job.
   */
  private finalizeAtExit(code: number): void {
    if (this.finalized || this.failure !== null || code !== 0) return;
    this.finalized = true;
    processFinalized = true;
    this.worker.postMessage({ op: 'finalize', id: 0 });
    Atomics.wait(this.control, 0, 0, EXIT_FINALIZE_TIMEOUT_MS);
  }
}

function disposedError(call: string): NatgradError {
  return new NatgradError('DISPOSED', `${call}: the communicator was disposed.`, {
    expected: 'a communicator that is still open',
    received: 'a disposed communicator (or one split from a world communicator that was disposed, i.e. MPI_Finalize ran)',
    fix: 'dispose the world communicator last, after the training run',
  });
}

function checkCount(call: string, name: string, value: unknown, fix: string): number {
  if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_COUNT) {
    throw invalid(call, `bad ${name}`, `an integer in [0, ${MAX_COUNT}]`, value, fix);
  }
  return value as number;
}

class MpiCommunicator implements Communicator {
  private disposed = false;

  constructor(
    private readonly mpi: MpiEngine,
    private readonly id: number,
    readonly rank: number,
    readonly size: number,
    private readonly world: boolean,
  ) {}

  get engine(): string {
    return this.mpi.engine;
  }

  private usable(call: string): void {
    if (this.disposed || this.mpi.finalized) throw disposedError(call);
  }

  private checkData(call: string, data: unknown): Float32Array {
    if (!(data instanceof Float32Array)) throw invalid(call, 'data is not a Float32Array', 'a Float32Array', data, 'pass the values as a Float32Array');
    checkCount(call, 'data length', data.length, 'split the data into calls of fewer than 2^31 elements');
    return data;
  }

  private checkRank(call: string, name: string, value: unknown): number {
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) >= this.size) {
      throw invalid(call, `bad ${name}`, `a rank of this communicator, an integer in [0, ${this.size - 1}]`, value, `pass a rank below size (${this.size})`);
    }
    return value as number;
  }

  private checkOp(call: string, op: unknown): ReduceOp {
    if (!OPS.includes(op as ReduceOp)) throw invalid(call, 'unknown reduce op', "'sum', 'max' or 'min'", op, "omit op (default 'sum')");
    return op as ReduceOp;
  }

  private checkCounts(call: string, counts: unknown): number[] {
    if (!Array.isArray(counts) || counts.length !== this.size) {
      throw invalid(call, 'bad counts', `an array of ${this.size} counts, one per rank`, counts, 'pass one element count per rank of this communicator');
    }
    let total = 0;
    for (const count of counts) total += checkCount(call, 'count', count, 'pass non-negative integer counts');
    checkCount(call, 'sum of counts', total, 'split the data into calls of fewer than 2^31 elements');
    return [...counts];
  }

  /** A copy of `data` in a fresh buffer, which is transferred to the MPI thread. */
  private static copy<T extends Float32Array | Float64Array | Uint8Array>(data: T): T {
    return data.slice() as T;
  }

  async split(color: number, key: number): Promise<Communicator> {
    this.usable('split');
    if (!Number.isInteger(color) || color < 0 || color > MAX_COUNT) {
      throw invalid('split', 'bad color', 'a non-negative integer (ranks with equal colors form one communicator)', color, 'pass e.g. rank % 2');
    }
    if (!Number.isInteger(key) || Math.abs(key) > MAX_COUNT) throw invalid('split', 'bad key', 'an integer (the order of ranks in the new communicator)', key, 'pass e.g. rank');
    const reply = await this.mpi.request<{ comm: number; rank: number; size: number }>('split', { op: 'split', comm: this.id, color, key });
    return new MpiCommunicator(this.mpi, reply.comm, reply.rank, reply.size, false);
  }

  async allreduce(data: Float32Array, op: ReduceOp = 'sum'): Promise<Float32Array> {
    this.usable('allreduce');
    const copy = MpiCommunicator.copy(this.checkData('allreduce', data));
    this.checkOp('allreduce', op);
    return this.mpi.request('allreduce', { op: 'allreduce', comm: this.id, data: copy, reduce: op }, [copy.buffer as ArrayBuffer]);
  }

  async reduceScatter(data: Float32Array, counts: readonly number[]): Promise<Float32Array> {
    this.usable('reduceScatter');
    this.checkData('reduceScatter', data);
    const list = this.checkCounts('reduceScatter', counts);
    const total = list.reduce((a, b) => a + b, 0);
    if (data.length !== total) {
      throw invalid('reduceScatter', 'data length differs from sum(counts)', `${total} elements (the sum of counts)`, data, 'pass the full vector on every rank; counts say which slice each rank receives');
    }
    const copy = MpiCommunicator.copy(data);
    return this.mpi.request('reduceScatter', { op: 'reduceScatter', comm: this.id, data: copy, counts: list, rank: this.rank }, [copy.buffer as ArrayBuffer]);
  }

  async allgatherv(data: Float32Array, counts: readonly number[]): Promise<Float32Array> {
    this.usable('allgatherv');
    this.checkData('allgatherv', data);
    const list = this.checkCounts('allgatherv', counts);
    if (data.length !== list[this.rank]) {
      throw invalid('allgatherv', `data length differs from counts[${this.rank}]`, `${list[this.rank]} elements (this rank's count)`, data, "pass this rank's own part; counts[r] is rank r's length");
    }
    const copy = MpiCommunicator.copy(data);
    return this.mpi.request('allgatherv', { op: 'allgatherv', comm: this.id, data: copy, counts: list }, [copy.buffer as ArrayBuffer]);
  }

  async sendrecv(data: Float32Array, dest: number, receiveCount: number, source: number, tag = 0): Promise<Float32Array> {
    this.usable('sendrecv');
    this.checkData('sendrecv', data);
    this.checkRank('sendrecv', 'dest', dest);
    this.checkRank('sendrecv', 'source', source);
    checkCount('sendrecv', 'receiveCount', receiveCount, 'pass the number of floats the source sends');
    if (!Number.isInteger(tag) || tag < 0 || tag > MAX_TAG) throw invalid('sendrecv', 'bad tag', `an integer in [0, ${MAX_TAG}]`, tag, 'omit tag (default 0)');
    const copy = MpiCommunicator.copy(data);
    return this.mpi.request('sendrecv', { op: 'sendrecv', comm: this.id, data: copy, dest, receiveCount, source, tag }, [copy.buffer as ArrayBuffer]);
  }

  async broadcast(data: Float32Array, root: number): Promise<Float32Array> {
    this.usable('broadcast');
    this.checkData('broadcast', data);
    this.checkRank('broadcast', 'root', root);
    const copy = MpiCommunicator.copy(data);
    return this.mpi.request('broadcast', { op: 'broadcast', comm: this.id, data: copy, root }, [copy.buffer as ArrayBuffer]);
  }

  async broadcastBytes(data: Uint8Array | null, root: number): Promise<Uint8Array> {
    this.usable('broadcastBytes');
    this.checkRank('broadcastBytes', 'root', root);
    if (this.rank === root) {
      if (!(data instanceof Uint8Array)) {
        throw invalid('broadcastBytes', 'the root passed no bytes', 'a Uint8Array on the root rank', data, `pass the bytes on rank ${root} (other ranks pass null)`);
      }
      if (data.length > Number.MAX_SAFE_INTEGER) throw invalid('broadcastBytes', 'too many bytes', 'fewer than 2^53 bytes', data, 'send less');
      const copy = MpiCommunicator.copy(data);
      return this.mpi.request('broadcastBytes', { op: 'broadcastBytes', comm: this.id, data: copy, root, rank: this.rank }, [copy.buffer as ArrayBuffer]);
    }
    if (data !== null && !(data instanceof Uint8Array)) {
      throw invalid('broadcastBytes', 'bad data on a non-root rank', 'null (or a Uint8Array, ignored)', data, 'pass null on the ranks that receive');
    }
    return this.mpi.request('broadcastBytes', { op: 'broadcastBytes', comm: this.id, data: null, root, rank: this.rank });
  }

  async allreduceScalars(values: readonly number[], op: ReduceOp = 'sum'): Promise<number[]> {
    this.usable('allreduceScalars');
    if (!Array.isArray(values) || values.some((v) => typeof v !== 'number')) {
      throw invalid('allreduceScalars', 'values are not numbers', 'an array of numbers', values, 'pass plain numbers (convert tensors with await t.data() first)');
    }
    checkCount('allreduceScalars', 'number of values', values.length, 'pass fewer values');
    this.checkOp('allreduceScalars', op);
    const data = Float64Array.from(values);
    const result = await this.mpi.request<Float64Array>('allreduceScalars', { op: 'allreduceScalars', comm: this.id, data, reduce: op }, [data.buffer]);
    return Array.from(result);
  }

  async barrier(): Promise<void> {
    this.usable('barrier');
    await this.mpi.request('barrier', { op: 'barrier', comm: this.id });
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    if (this.world) {
      if (processEngine === this.mpi) processEngine = null;
      await this.mpi.finalize();
    } else if (!this.mpi.finalized) {
      await this.mpi.request('dispose', { op: 'free', comm: this.id });
    }
  }
}

/**
 * Initializes MPI (MPI_Init_thread, MPI_THREAD_FUNNELED, on a dedicated worker thread) and returns
 * the world communicator. Run the program under a launcher: `mpirun -np 4 node train.js` (see
 * mpirunArgs() for the settings natgrad uses) or `srun`. dispose() the world communicator at the
 * end (MPI_Finalize); a process that forgets it is finalized at exit.
 */
export async function initMpi(options: InitMpiOptions = {}): Promise<Communicator> {
  if (options === null || typeof options !== 'object') {
    throw invalid('initMpi', 'options is not an object', 'an options object or nothing', options, 'call initMpi() or initMpi({ library })');
  }
  const candidates = libraryCandidates(options.library);
  if (processEngine !== null || processStarting) {
    throw invalid('initMpi', 'MPI is already initialized in this process', 'one initMpi() per process', 'a second call', 'reuse the world communicator the first initMpi() returned (await it once and share it)');
  }
  if (processFinalized) {
    throw new NatgradError('DISPOSED', 'initMpi: MPI was finalized in this process.', {
      expected: 'MPI initialized at most once per process (the MPI standard forbids initializing again after MPI_Finalize)',
      received: 'initMpi() after the world communicator was disposed',
      fix: 'keep the world communicator open until the process is done with MPI',
    });
  }
  processStarting = true;
  try {
    const world = await startMpi(options, candidates);
    processEngine = world.mpi;
    return world.communicator;
  } finally {
    processStarting = false;
  }
}

async function startMpi(options: InitMpiOptions, candidates: LibraryCandidate[]): Promise<{ mpi: MpiEngine; communicator: Communicator }> {
  for (const [name, value] of Object.entries(UCX_DEFAULTS)) {
    if (process.env[name] === undefined) process.env[name] = value;
  }
  const control = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  const script = options.script ?? mpiThreadScript;
  const worker = new Worker(script, { workerData: { candidates, control } });
  const start = await new Promise<StartMessage | { threadFailed: string }>((resolve) => {
    worker.once('message', resolve);
    worker.once('error', (error) => resolve({ threadFailed: error.message }));
    worker.once('exit', (code) => resolve({ threadFailed: `the thread exited with code ${code} before it was ready` }));
  });
  if (!('ready' in start)) {
    await worker.terminate();
    if ('unavailable' in start) {
      const tried = start.unavailable.map(({ file, reason }) => `${file} (${reason})`).join('; ');
      throw new NatgradError('BACKEND_UNAVAILABLE', 'initMpi: no MPI library could be loaded.', {
        expected: 'an MPI shared library: Open MPI (libmpi.so.40), MPICH (libmpich.so.12) or the MPI-5 ABI (libmpi_abi.so)',
        received: `tried ${tried}`,
        fix: INSTALL_FIX,
      });
    }
    if ('initFailed' in start) {
      throw new NatgradError('COMMUNICATION_FAILED', `initMpi: MPI could not be initialized (${start.file}).`, {
        expected: 'MPI_Init_thread to succeed',
        received: start.initFailed,
        fix: 'run under the launcher of the same MPI implementation (mpirun.openmpi for Open MPI, mpirun.mpich for MPICH), or pass initMpi({ library }) matching your mpirun',
      });
    }
    throw new NatgradError('WORKER_FAILED', 'initMpi: the MPI thread did not start.', {
      expected: 'a running MPI thread',
      received: start.threadFailed,
      fix: `check that ${String(script)} exists (a bundled app copies '@natgrad/comm-mpi/mpi-thread.mjs' next to its bundle and passes initMpi({ script })) and that koffi can be imported from there`,
    });
  }
  const mpi = new MpiEngine(worker, control, start.engine);
  return { mpi, communicator: new MpiCommunicator(mpi, 0, start.rank, start.size, true) };
}
