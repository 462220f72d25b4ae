/**
 * createStatisticsWorker(): the StatisticsWorker contract of @natgrad/core on a Node worker thread
 * with its own tfjs instance (statistics-worker-thread.mjs). Pass it to kfac({ statisticsWorker })
 * and KFAC's Gram products run on a second core while the main thread trains.
 *
 * Calls that need no answer (allocate, accumulate, write, release) only post a message; read()
 * blocks the main thread with Atomics.wait until the thread has applied everything before it and
 * takes the answer with receiveMessageOnPort, so the contract stays synchronous like the rest of a
 * tfjs training step. accumulate() copies the tensors out first (the caller may dispose them at
 * once) and waits when more than `maxInFlight` batches are queued, so a thread slower than the
 * training step holds back the step instead of queueing unbounded copies of the batch.
 *
 * The copies go into SharedArrayBuffers reused round-robin (maxInFlight + 1 per matrix), not into
 * fresh buffers: allocating the ~76 MB of an MLP-512 batch-4096 step anew each step slowed the
 * training step itself by more than half (V8 allocation and GC, measured; docs/benchmarks.md).
 */
import { MessageChannel, type MessagePort, Worker, receiveMessageOnPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs-core';
import { type GramTerm, type KroneckerProductRequest, NatgradError, type StatisticsWorker, describeValue } from '@natgrad/core';
import { copyIntoHost, copyToHost } from '../host-copy';

export interface StatisticsWorkerOptions {
  /**
   * The thread's tfjs backend: 'wasm' or 'cpu'. Default: the main thread's current backend when it
   * is one of these (bit-identical statistics need the same backend on both sides).
   */
  backend?: 'wasm' | 'cpu';
  /**
   * The thread script; default `statisticsWorkerScript` (statistics-worker-thread.mjs beside this
   * module). A bundled app copies that file (also exported as
   * '@natgrad/backends/statistics-worker-thread.mjs') next to its bundle and passes its path here.
   */
  script?: string | URL;
  /** Folder of the tfjs wasm binaries, for a thread that cannot find them itself (a bundle). */
  wasmPaths?: string;
  /** Batches that may wait in the queue before accumulate() blocks (default 2). */
  maxInFlight?: number;
  /** How long a blocking call waits for the thread before failing, in ms (default 10 minutes). */
  timeoutMs?: number;
}

/**
 * Where the default thread script is: statistics-worker-thread.mjs beside this module (in dist/node
 * of the installed package; package export '@natgrad/backends/statistics-worker-thread.mjs').
 * A bundler moves this module but not that file, so a bundled app copies it and passes `script`.
 */
// The CommonJS build gets import.meta.url from tsup's --shims (the package's build script).
export const statisticsWorkerScript: URL = new URL('./statistics-worker-thread.mjs', import.meta.url);

const DONE = 0;
const FAILED = 1;
const EXITED = 2;

function workerError(message: string, received: string, fix: string, cause?: unknown): NatgradError {
  return new NatgradError('WORKER_FAILED', `statistics worker: ${message}`, {
    expected: 'a running statistics worker thread',
    received,
    fix,
    cause,
  });
}

function invalid(what: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `statistics worker: ${what}.`, { expected, received: describeValue(received), fix });
}

class ThreadStatisticsWorker implements StatisticsWorker {
  private readonly sizes = new Map<string, number>();
  private readonly pendingAccumulates: number[] = [];
  /** Reused transfer buffers: per matrix (key + part), maxInFlight + 1 of them, round-robin. */
  private readonly buffers = new Map<string, SharedArrayBuffer[]>();
  private accumulateCount = 0;
  /** Replies that arrived while another one was awaited (multiply() may be in flight during read()). */
  private readonly unclaimed = new Map<number, { values?: unknown; products?: unknown }>();
  private seq = 0;
  private terminated = false;
  private failure: NatgradError | null = null;

  private constructor(
    private readonly worker: Worker,
    private readonly replies: MessagePort,
    private readonly control: Int32Array,
    readonly backend: string,
    private readonly maxInFlight: number,
    private readonly timeoutMs: number,
  ) {}

  static async start(options: StatisticsWorkerOptions): Promise<ThreadStatisticsWorker> {
    const current = tf.getBackend();
    const backend = options.backend ?? (current === 'wasm' || current === 'cpu' ? current : undefined);
    if (backend !== 'wasm' && backend !== 'cpu') {
      throw invalid(
        'unsupported backend',
        "'wasm' or 'cpu' (a GPU backend computes its statistics faster on the device itself)",
        options.backend ?? current,
        "pass backend: 'wasm', or keep the statistics on the main thread for GPU backends",
      );
    }
    const maxInFlight = options.maxInFlight ?? 2;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw invalid('bad maxInFlight', 'an integer >= 1', options.maxInFlight, 'omit it (default 2)');
    const timeoutMs = options.timeoutMs ?? 600_000;
    if (!(timeoutMs > 0)) throw invalid('bad timeoutMs', 'a positive number of milliseconds', options.timeoutMs, 'omit it (default 10 minutes)');
    const control = new Int32Array(new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT));
    const { port1, port2 } = new MessageChannel();
    const script = options.script ?? statisticsWorkerScript;
    const worker = new Worker(script, {
      workerData: { backend, wasmPaths: options.wasmPaths, control, replies: port2 },
      transferList: [port2],
    });
    const ready = await new Promise<{ ready: boolean; error?: string }>((resolve) => {
      worker.once('message', resolve);
      worker.once('error', (error) => resolve({ ready: false, error: error.message }));
      worker.once('exit', (code) => resolve({ ready: false, error: `the thread exited with code ${code} before it was ready` }));
    });
    if (!ready.ready) {
      await worker.terminate();
      port1.close();
      throw workerError('the thread did not start.', ready.error ?? 'no reason given', `check that ${String(script)} exists (a bundled app copies '@natgrad/backends/statistics-worker-thread.mjs', i.e. statisticsWorkerScript, next to its bundle and passes createStatisticsWorker({ script })) and that @tensorflow/tfjs${backend === 'wasm' ? ' (or @tensorflow/tfjs-core) and @tensorflow/tfjs-backend-wasm' : ' (or @tensorflow/tfjs-core and @tensorflow/tfjs-backend-cpu)'} can be imported from there${backend === 'wasm' ? ' (pass wasmPaths when its .wasm files moved)' : ''}`);
    }
    // The thread must not keep a finished training process alive.
    worker.unref();
    port1.unref();
    return new ThreadStatisticsWorker(worker, port1, control, backend, maxInFlight, timeoutMs);
  }

  allocate(sizes: Record<string, number>): void {
    this.usable('allocate');
    for (const [key, size] of Object.entries(sizes)) {
      if (!Number.isInteger(size) || size < 1) throw invalid(`bad size for "${key}"`, 'a positive integer (the side of the square average)', size, 'pass the factor dimension');
    }
    for (const [key, size] of Object.entries(sizes)) this.sizes.set(key, size);
    this.post({ op: 'allocate', sizes });
  }

  accumulate(terms: readonly GramTerm[], decay: number): void {
    this.usable('accumulate');
    if (!(decay >= 0 && decay < 1)) throw invalid('bad decay', 'a number in [0, 1)', decay, 'pass the EMA decay, e.g. 0.95');
    for (const term of terms) this.checkTerm(term);
    // At most maxInFlight - 1 requests stay pending after this wait, so the buffers of request
    // accumulateCount - (maxInFlight + 1), which this one reuses, have been read by the thread.
    while (this.pendingAccumulates.length >= this.maxInFlight) this.waitFor(this.pendingAccumulates[0], 'accumulate');
    const slot = this.accumulateCount++ % (this.maxInFlight + 1);
    const messages = terms.map((term) => this.copyTerm(term, slot));
    this.pendingAccumulates.push(this.post({ op: 'accumulate', terms: messages, decay }));
  }

  read(keys: readonly string[]): Record<string, Float32Array> {
    this.usable('read');
    for (const key of keys) this.size(key, 'read');
    const seq = this.post({ op: 'read', keys: [...keys] });
    this.waitFor(seq, 'read');
    const reply = this.takeReply(seq);
    return reply.values as Record<string, Float32Array>;
  }

  multiply(requests: readonly KroneckerProductRequest[]): () => Float32Array[] {
    this.usable('multiply');
    const messages = requests.map(({ aKey, gKey, vector }) => {
      const p = this.size(aKey, 'multiply');
      const o = this.size(gKey, 'multiply');
      if (vector?.rank !== 2 || vector.dtype !== 'float32' || vector.shape[0] !== p || vector.shape[1] !== o) {
        throw invalid(`multiply: vector for "${aKey}" x "${gKey}"`, `a float32 tensor of shape [${p},${o}]`, vector, 'pass V with as many rows as A and columns as G');
      }
      return { aKey, gKey, vector: { data: copyToHost(vector).buffer as ArrayBuffer, shape: [p, o] } };
    });
    const seq = this.post(
      { op: 'multiply', requests: messages },
      messages.map((m) => m.vector.data),
    );
    let finished = false;
    return () => {
      if (finished) throw invalid('multiply: finished twice', 'one call of the function multiply() returned', 'a second call', 'keep the products of the first call');
      finished = true;
      this.usable('multiply');
      this.waitFor(seq, 'multiply');
      return this.takeReply(seq).products as Float32Array[];
    };
  }

  write(values: Record<string, Float32Array>): void {
    this.usable('write');
    const copies: Record<string, Float32Array> = {};
    for (const [key, data] of Object.entries(values)) {
      const size = this.size(key, 'write');
      if (!(data instanceof Float32Array) || data.length !== size * size) {
        throw invalid(`bad values for "${key}"`, `a Float32Array of ${size * size} entries (${size} x ${size})`, data, 'pass the row-major average');
      }
      copies[key] = data.slice();
    }
    this.post(
      { op: 'write', values: copies },
      Object.values(copies).map((v) => v.buffer as ArrayBuffer),
    );
  }

  release(keys: readonly string[]): void {
    if (this.terminated || this.failure !== null) return;
    for (const key of keys) {
      this.sizes.delete(key);
      for (const name of [...this.buffers.keys()]) if (name.startsWith(`${key}\u0000`)) this.buffers.delete(name);
    }
    this.post({ op: 'release', keys: [...keys] });
  }

  async terminate(): Promise<void> {
    if (this.terminated) return;
    this.terminated = true;
    this.replies.close();
    await this.worker.terminate();
  }

  private usable(what: string): void {
    if (this.terminated) {
      throw new NatgradError('DISPOSED', `statistics worker: ${what}() after terminate().`, {
        expected: 'a worker that has not been terminated',
        received: 'a terminated worker',
        fix: 'create a new worker with createStatisticsWorker(), or terminate it only after training',
      });
    }
    if (this.failure !== null) throw this.failure;
    this.checkFailed();
  }

  private size(key: string, what: string): number {
    const size = this.sizes.get(key);
    if (size === undefined) throw invalid(`${what}: unknown key "${key}"`, `one of the allocated keys (${this.sizes.size} allocated)`, key, 'allocate() the key first');
    return size;
  }

  private checkTerm(term: GramTerm): void {
    const { key, rows, rowsTransposed, augment, scale } = term;
    const size = this.size(key, 'accumulate');
    if (rows?.rank !== 2 || rows.dtype !== 'float32') throw invalid(`rows of "${key}"`, 'a 2-D float32 tensor', rows, 'pass the [rows, columns] matrix X');
    const [r, p] = rows.shape;
    if (p + (augment ? 1 : 0) !== size) {
      throw invalid(`rows of "${key}" do not match its size`, `${size - (augment ? 1 : 0)} columns${augment ? ' (plus the ones column augment adds)' : ''}`, `shape [${rows.shape}]`, 'pass the layer rows the key was allocated for');
    }
    if (rowsTransposed !== undefined && (rowsTransposed.rank !== 2 || rowsTransposed.shape[0] !== p || rowsTransposed.shape[1] !== r)) {
      throw invalid(`rowsTransposed of "${key}"`, `shape [${p},${r}] (the transpose of rows)`, rowsTransposed, 'pass rows transposed, or omit it');
    }
    const { permutation } = term;
    if (permutation !== undefined) {
      const seen = new Set(permutation);
      const ok = permutation.length === size && seen.size === size && permutation.every((i) => Number.isInteger(i) && i >= 0 && i < size);
      if (!ok) throw invalid(`permutation of "${key}"`, `a permutation of 0..${size - 1}`, permutation, 'pass each index of the average exactly once, or omit it');
    }
        const factor = 'divide' in scale ? scale.divide : scale.multiply;
    if (!(Number.isFinite(factor) && factor > 0)) throw invalid(`scale of "${key}"`, '{ divide: n } or { multiply: n } with n a positive finite number', scale, 'pass the normalisation of the Gram product');
  }

  /** The message form of a checked term, its matrices copied into ring slot `slot`'s buffers. */
  private copyTerm(term: GramTerm, slot: number) {
    const { key, rows, rowsTransposed, augment, scale } = term;
    const matrix = (t: tf.Tensor2D, part: string) => ({ data: this.copyToShared(`${key}\u0000${part}`, slot, t), shape: t.shape });
    return {
      key,
      augment,
      permutation: term.permutation === undefined ? undefined : [...term.permutation],
      scale: 'divide' in scale ? { divide: scale.divide } : { multiply: scale.multiply },
      rows: matrix(rows, 'rows'),
      rowsTransposed: rowsTransposed === undefined ? undefined : matrix(rowsTransposed, 'rowsTransposed'),
    };
  }

  private copyToShared(name: string, slot: number, t: tf.Tensor): SharedArrayBuffer {
    let ring = this.buffers.get(name);
    if (ring === undefined) {
      ring = [];
      this.buffers.set(name, ring);
    }
    const bytes = t.size * Float32Array.BYTES_PER_ELEMENT;
    // A buffer still referenced by a queued message stays alive through that message.
    if (ring[slot] === undefined || ring[slot].byteLength < bytes) ring[slot] = new SharedArrayBuffer(bytes);
    copyIntoHost(t, new Float32Array(ring[slot], 0, t.size));
    return ring[slot];
  }

  private post(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): number {
    this.seq++;
    this.worker.postMessage({ ...message, seq: this.seq }, transfer);
    return this.seq;
  }

  /** Blocks until the thread has handled request `seq` (Atomics.wait: nothing else runs meanwhile). */
  private waitFor(seq: number, what: string): void {
    const start = Date.now();
    for (;;) {
      const done = Atomics.load(this.control, DONE);
      if (done >= seq) break;
      if (Atomics.load(this.control, EXITED) === 1) {
        this.failure = workerError(`the thread exited during ${what}().`, 'an exited thread', 'look for an out-of-memory or native crash message above; create a new worker');
        throw this.failure;
      }
      if (Date.now() - start > this.timeoutMs) {
        this.failure = workerError(`${what}() timed out.`, `no answer within ${this.timeoutMs} ms`, 'raise timeoutMs for very large layers, or check that the thread is not starved of CPU');
        throw this.failure;
      }
      Atomics.wait(this.control, DONE, done, 1000);
    }
    while (this.pendingAccumulates.length > 0 && this.pendingAccumulates[0] <= Atomics.load(this.control, DONE)) this.pendingAccumulates.shift();
    this.checkFailed();
  }

  private checkFailed(): void {
    if (Atomics.load(this.control, FAILED) === 0) return;
    let reason = 'an unknown error';
    for (let m = receiveMessageOnPort(this.replies); m !== undefined; m = receiveMessageOnPort(this.replies)) {
      if (m.message.error !== undefined) reason = m.message.error;
    }
    this.failure = workerError('a request failed in the thread.', reason, 'the averages are no longer reliable: create a new worker and restore the estimator from a checkpoint');
    throw this.failure;
  }

  private takeReply(seq: number): { values?: unknown; products?: unknown } {
    const early = this.unclaimed.get(seq);
    if (early !== undefined) {
      this.unclaimed.delete(seq);
      return early;
    }
    for (let m = receiveMessageOnPort(this.replies); m !== undefined; m = receiveMessageOnPort(this.replies)) {
      if (m.message.seq === seq) return m.message;
      this.unclaimed.set(m.message.seq, m.message);
    }
    this.failure = workerError('an answer went missing.', `no reply to request ${seq}`, 'create a new worker');
    throw this.failure;
  }
}

/**
 * Starts a statistics worker thread (see the module comment). Terminate it when training ends;
 * an idle worker does not keep the process alive.
 */
export async function createStatisticsWorker(options: StatisticsWorkerOptions = {}): Promise<StatisticsWorker> {
  return ThreadStatisticsWorker.start(options);
}
