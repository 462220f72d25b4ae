// The thread side of initMpi() (init-mpi.ts): the one thread of the process that calls MPI.
//
// Why a thread: every MPI call blocks until the peers join, and a blocking call on the JS main
// thread freezes its event loop (timers, I/O, the training loop's own promises) for as long as the
// slowest rank takes. MPI is initialized here with MPI_THREAD_FUNNELED (only the initializing thread
// calls MPI), and every call is a plain synchronous koffi call on this thread: koffi's .async()
// calls run on a pool of native threads with a 128 KiB stack, which MPI overflows (crashes measured,
// issue #15), and they would break FUNNELED.
//
// Plain JavaScript on purpose: a worker thread runs a file as is, and this one must run unchanged
// from the TypeScript sources (tests), from dist/ and from a bundled CLI.
//
// Protocol: requests { id, op, comm, ... } on parentPort, processed strictly in arrival order (MPI's
// rule that collectives match in call order then holds per process); replies { id, result } or
// { id, error: { message, mpi } }. Arrays arrive transferred (the main thread copied the caller's
// data once) and results leave transferred, so a call costs one copy in and none out. The first
// message is { ready, ... } or { unavailable: tried[] } or { initFailed: message }. control[0] is set
// to 1 (and notified) once MPI_Finalize returned, so the main thread can wait for it synchronously in
// its 'exit' handler.
import { parentPort, workerData } from 'node:worker_threads';
import koffi from 'koffi';

const { candidates, control } = workerData;

// The predefined handles of each ABI. Open MPI's are the addresses of exported objects (its mpi.h
// defines MPI_COMM_WORLD as &ompi_mpi_comm_world); MPICH's are integer constants (its mpi.h, the
// same values in every MPICH-ABI library: Intel MPI, MVAPICH, Cray MPICH); the MPI-5 standard ABI's
// are small integer constants of pointer size (mpi.h of the MPI Forum's ABI working group).
const FLAVORS = {
  openmpi: {
    handle: 'intptr_t',
    symbols: {
      world: 'ompi_mpi_comm_world',
      float: 'ompi_mpi_float',
      double: 'ompi_mpi_double',
      byte: 'ompi_mpi_byte',
      sum: 'ompi_mpi_op_sum',
      max: 'ompi_mpi_op_max',
      min: 'ompi_mpi_op_min',
      errorsReturn: 'ompi_mpi_errors_return',
    },
    inPlace: 1n,
  },
  mpich: {
    handle: 'int',
    constants: {
      world: 0x44000000,
      float: 0x4c00040a,
      double: 0x4c00080b,
      byte: 0x4c00010d,
      sum: 0x58000003,
      max: 0x58000001,
      min: 0x58000002,
      errorsReturn: 0x54000001,
    },
    inPlace: -1n,
  },
  'mpi-abi': {
    handle: 'intptr_t',
    constants: {
      world: 0x101n,
      float: 0x210n,
      double: 0x214n,
      byte: 0x247n,
      sum: 0x21n,
      min: 0x22n,
      max: 0x23n,
      errorsReturn: 0x142n,
    },
    inPlace: 1n,
  },
};

const MPI_THREAD_FUNNELED = 1; // the same value in all three ABIs
const MAX_ERROR_STRING = 512;
const MAX_LIBRARY_VERSION_STRING = 8192;
// Bytes per MPI_Bcast of broadcastBytes: counts are C ints, and 1 GiB chunks stay well below 2^31.
const BYTES_CHUNK = 1 << 30;

function describe(error) {
  return error instanceof Error ? error.message : String(error);
}

/** Loads the first candidate that is an MPI library; records why each other one was not. */
function loadLibrary() {
  const tried = [];
  for (const candidate of candidates) {
    let lib;
    try {
      // RTLD_GLOBAL: Open MPI's plugins (mca_*.so) are dlopen'ed by libmpi and resolve their
      // symbols against it; with the default RTLD_LOCAL they fail to load.
      lib = koffi.load(candidate.file, { global: true });
    } catch (error) {
      tried.push({ file: candidate.file, reason: describe(error).split('\n')[0] });
      continue;
    }
    if (!hasSymbol(lib, 'MPI_Init_thread')) {
      tried.push({ file: candidate.file, reason: 'loaded, but it exports no MPI_Init_thread (not an MPI library)' });
      continue;
    }
    const flavor = candidate.flavor ?? detectFlavor(lib, candidate.file);
    if (flavor === 'openmpi' && !hasSymbol(lib, 'ompi_mpi_comm_world')) {
      tried.push({ file: candidate.file, reason: 'loaded, but it is not Open MPI (no ompi_mpi_comm_world)' });
      continue;
    }
    return { lib, flavor, file: candidate.file };
  }
  return { tried };
}

function hasSymbol(lib, name) {
  try {
    lib.symbol(name);
    return true;
  } catch {
    return false;
  }
}

// A library given by path: Open MPI exports its handle objects; a file named like the standard ABI
// library uses the standard ABI; anything else is taken as MPICH's ABI (the common ABI of MPICH and
// its derivatives).
function detectFlavor(lib, file) {
  if (hasSymbol(lib, 'ompi_mpi_comm_world')) return 'openmpi';
  if (/mpi_abi/.test(file)) return 'mpi-abi';
  return 'mpich';
}

function bind(lib, flavor) {
  const spec = FLAVORS[flavor];
  const H = spec.handle;
  const handles = {};
  for (const [name, value] of Object.entries(spec.symbols ?? spec.constants)) {
    handles[name] = spec.symbols ? lib.symbol(value) : value;
  }
  const f = (prototype) => lib.func(prototype);
  return {
    flavor,
    handles,
    inPlace: spec.inPlace,
    /** A one-element array that receives a handle (MPI_Comm_split's output). */
    handleCell: () => (H === 'int' ? new Int32Array(1) : new BigInt64Array(1)),
    initThread: f('int MPI_Init_thread(void *argc, void *argv, int required, void *provided)'),
    finalize: f('int MPI_Finalize()'),
    errorString: f('int MPI_Error_string(int code, void *text, void *length)'),
    libraryVersion: f('int MPI_Get_library_version(void *text, void *length)'),
    setErrhandler: f(`int MPI_Comm_set_errhandler(${H} comm, ${H} handler)`),
    rank: f(`int MPI_Comm_rank(${H} comm, void *rank)`),
    size: f(`int MPI_Comm_size(${H} comm, void *size)`),
    split: f(`int MPI_Comm_split(${H} comm, int color, int key, void *newcomm)`),
    free: f('int MPI_Comm_free(void *comm)'),
    allreduce: f(`int MPI_Allreduce(void *send, void *recv, int count, ${H} type, ${H} op, ${H} comm)`),
    reduceScatter: f(`int MPI_Reduce_scatter(void *send, void *recv, void *counts, ${H} type, ${H} op, ${H} comm)`),
    allgatherv: f(
      `int MPI_Allgatherv(void *send, int sendCount, ${H} sendType, void *recv, void *counts, void *displs, ${H} recvType, ${H} comm)`,
    ),
    sendrecv: f(
      `int MPI_Sendrecv(void *send, int sendCount, ${H} sendType, int dest, int sendTag, void *recv, int recvCount, ${H} recvType, int source, int recvTag, ${H} comm, void *status)`,
    ),
    getCount: f(`int MPI_Get_count(void *status, ${H} type, void *count)`),
    bcast: f(`int MPI_Bcast(void *buffer, int count, ${H} type, int root, ${H} comm)`),
    barrier: f(`int MPI_Barrier(${H} comm)`),
  };
}

let mpi = null;
let finalizedAlready = false;
/** Communicator id (the main thread's name for it) -> MPI handle; 0 is MPI_COMM_WORLD. */
const comms = new Map();
let nextComm = 1;

class MpiCallError extends Error {}

function check(rc, call) {
  if (rc === 0) return;
  const text = new Uint8Array(MAX_ERROR_STRING);
  const length = new Int32Array(1);
  let reason = `MPI error code ${rc}`;
  if (mpi.errorString(rc, text, length) === 0) reason = `${Buffer.from(text.subarray(0, length[0])).toString('utf8')} (MPI error code ${rc})`;
  throw new MpiCallError(`${call} failed: ${reason}`);
}

function engineName() {
  const text = new Uint8Array(MAX_LIBRARY_VERSION_STRING);
  const length = new Int32Array(1);
  if (mpi.libraryVersion(text, length) !== 0) return mpi.flavor;
  const version = Buffer.from(text.subarray(0, length[0])).toString('utf8');
  const openmpi = /Open MPI v([^\s,]+)/.exec(version);
  if (openmpi) return `Open MPI ${openmpi[1]}`;
  const mpich = /MPICH Version:\s*(\S+)/.exec(version);
  if (mpich) return `MPICH ${mpich[1]}`;
  return version.split('\n')[0].trim().slice(0, 80) || mpi.flavor;
}

function rankAndSize(handle) {
  const rank = new Int32Array(1);
  const size = new Int32Array(1);
  check(mpi.rank(handle, rank), 'MPI_Comm_rank');
  check(mpi.size(handle, size), 'MPI_Comm_size');
  return { rank: rank[0], size: size[0] };
}

function comm(id) {
  const handle = comms.get(id);
  if (handle === undefined) throw new Error(`unknown communicator ${id} (freed already)`);
  return handle;
}

function displacements(counts) {
  const displs = new Int32Array(counts.length);
  for (let i = 1; i < counts.length; i++) displs[i] = displs[i - 1] + counts[i - 1];
  return displs;
}

const OPS = {
  split({ comm: id, color, key }) {
    const cell = mpi.handleCell();
    check(mpi.split(comm(id), color, key, cell), 'MPI_Comm_split');
    const handle = cell[0];
    check(mpi.setErrhandler(handle, mpi.handles.errorsReturn), 'MPI_Comm_set_errhandler');
    const newId = nextComm++;
    comms.set(newId, handle);
    return { result: { comm: newId, ...rankAndSize(handle) } };
  },
  allreduce({ comm: id, data, reduce }) {
    check(mpi.allreduce(mpi.inPlace, data, data.length, mpi.handles.float, mpi.handles[reduce], comm(id)), 'MPI_Allreduce');
    return { result: data, transfer: [data.buffer] };
  },
  allreduceScalars({ comm: id, data, reduce }) {
    check(mpi.allreduce(mpi.inPlace, data, data.length, mpi.handles.double, mpi.handles[reduce], comm(id)), 'MPI_Allreduce');
    return { result: data, transfer: [data.buffer] };
  },
  reduceScatter({ comm: id, data, counts, rank }) {
    const out = new Float32Array(counts[rank]);
    check(mpi.reduceScatter(data, out, Int32Array.from(counts), mpi.handles.float, mpi.handles.sum, comm(id)), 'MPI_Reduce_scatter');
    return { result: out, transfer: [out.buffer] };
  },
  allgatherv({ comm: id, data, counts }) {
    const total = counts.reduce((a, b) => a + b, 0);
    const out = new Float32Array(total);
    const h = mpi.handles;
    check(mpi.allgatherv(data, data.length, h.float, out, Int32Array.from(counts), displacements(counts), h.float, comm(id)), 'MPI_Allgatherv');
    return { result: out, transfer: [out.buffer] };
  },
  sendrecv({ comm: id, data, dest, receiveCount, source, tag }) {
    const out = new Float32Array(receiveCount);
    // Large enough for every ABI's MPI_Status (Open MPI 24 bytes, MPICH 20, the standard ABI 32).
    const status = new BigInt64Array(8);
    const h = mpi.handles;
    check(mpi.sendrecv(data, data.length, h.float, dest, tag, out, receiveCount, h.float, source, tag, comm(id), status), 'MPI_Sendrecv');
    const count = new Int32Array(1);
    check(mpi.getCount(status, h.float, count), 'MPI_Get_count');
    if (count[0] !== receiveCount) {
      throw new MpiCallError(`MPI_Sendrecv received ${count[0]} floats from rank ${source}, but ${receiveCount} were expected (the sender passed a different length)`);
    }
    return { result: out, transfer: [out.buffer] };
  },
  broadcast({ comm: id, data, root }) {
    check(mpi.bcast(data, data.length, mpi.handles.float, root, comm(id)), 'MPI_Bcast');
    return { result: data, transfer: [data.buffer] };
  },
  broadcastBytes({ comm: id, data, root, rank }) {
    const length = new Float64Array([rank === root ? data.length : 0]);
    check(mpi.bcast(length, 1, mpi.handles.double, root, comm(id)), 'MPI_Bcast (length)');
    const bytes = rank === root ? data : new Uint8Array(length[0]);
    for (let offset = 0; offset < bytes.length; offset += BYTES_CHUNK) {
      const chunk = bytes.subarray(offset, Math.min(bytes.length, offset + BYTES_CHUNK));
      check(mpi.bcast(chunk, chunk.length, mpi.handles.byte, root, comm(id)), 'MPI_Bcast');
    }
    return { result: bytes, transfer: [bytes.buffer] };
  },
  barrier({ comm: id }) {
    check(mpi.barrier(comm(id)), 'MPI_Barrier');
    return { result: null };
  },
  free({ comm: id }) {
    const handle = comms.get(id);
    if (handle !== undefined) {
      comms.delete(id);
      const cell = mpi.handleCell();
      cell[0] = handle;
      check(mpi.free(cell), 'MPI_Comm_free');
    }
    return { result: null };
  },
  finalize() {
    finalize();
    return { result: null };
  },
};

function finalize() {
  if (finalizedAlready) return;
  finalizedAlready = true;
  try {
    check(mpi.finalize(), 'MPI_Finalize');
  } finally {
    Atomics.store(control, 0, 1);
    Atomics.notify(control, 0);
  }
}

function start() {
  const loaded = loadLibrary();
  if (!loaded.lib) {
    parentPort.postMessage({ unavailable: loaded.tried });
    return false;
  }
  try {
    mpi = bind(loaded.lib, loaded.flavor);
  } catch (error) {
    parentPort.postMessage({ unavailable: [{ file: loaded.file, reason: `an MPI function or handle is missing: ${describe(error)}` }] });
    return false;
  }
  try {
    const provided = new Int32Array(1);
    check(mpi.initThread(null, null, MPI_THREAD_FUNNELED, provided), 'MPI_Init_thread');
    // Errors are returned as codes (and become COMMUNICATION_FAILED on the calling rank) instead of
    // aborting the whole job from inside the library without a message.
    check(mpi.setErrhandler(mpi.handles.world, mpi.handles.errorsReturn), 'MPI_Comm_set_errhandler');
    comms.set(0, mpi.handles.world);
    parentPort.postMessage({ ready: true, flavor: loaded.flavor, file: loaded.file, engine: engineName(), ...rankAndSize(mpi.handles.world) });
    return true;
  } catch (error) {
    parentPort.postMessage({ initFailed: describe(error), file: loaded.file });
    return false;
  }
}

if (start()) {
  parentPort.on('message', (request) => {
    const handler = OPS[request.op];
    let reply;
    try {
      if (!handler) throw new Error(`unknown request ${request.op}`);
      reply = handler(request);
    } catch (error) {
      parentPort.postMessage({ id: request.id, error: { message: describe(error), mpi: error instanceof MpiCallError } });
      return;
    }
    parentPort.postMessage({ id: request.id, result: reply.result }, reply.transfer ?? []);
    if (request.op === 'finalize') parentPort.close();
  });
} else {
  parentPort.close();
}
