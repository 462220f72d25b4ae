// The thread side of createStatisticsWorker() (statistics-worker.ts): keyed EMAs of Gram products
// S <- decay*S + (1-decay)*scale(X^T X), computed with its own tfjs instance on its own core.
//
// Plain JavaScript on purpose: a worker thread runs a file as is, and this one must run unchanged
// from the TypeScript sources (tests), from dist/ and from the CLI bundle. Every op below mirrors,
// op for op, what @natgrad/curvature's KFAC does on the main thread (factors.ts, shared/matmul.ts,
// shared/ema.ts), so that on the same backend the averages are bit-identical to the inline ones;
// change them together.
//
// Protocol (all messages on parentPort, answers on the `replies` port): every request carries a
// sequence number; after handling it the thread stores it in control[0] and notifies, so the main
// thread can block with Atomics.wait. A failure is posted as { seq, error } and its seq is stored
// in control[1]; control[2] becomes 1 when the thread exits.
import { parentPort, workerData } from 'node:worker_threads';

const { backend, wasmPaths, control, replies } = workerData;
const DONE = 0;
const FAILED = 1;
const EXITED = 2;

process.on('exit', () => {
  Atomics.store(control, EXITED, 1);
  Atomics.notify(control, DONE);
});

// The umbrella when the app has it; else tfjs-core (the peer natgrad's libraries need), with the cpu
// backend's package for backend 'cpu'. The thread computes no gradients, so core's ops suffice.
async function importTf() {
  try {
    return await import('@tensorflow/tfjs');
  } catch {
    const tf = await import('@tensorflow/tfjs-core');
    if (backend === 'cpu') await import('@tensorflow/tfjs-backend-cpu');
    return tf;
  }
}

async function loadTf() {
  const tf = await importTf();
  if (backend === 'wasm') {
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    if (wasmPaths) wasm.setWasmPaths(wasmPaths);
  }
  if (!(await tf.setBackend(backend))) throw new Error(`tfjs backend "${backend}" did not initialise in the statistics worker`);
  await tf.ready();
  return tf;
}

function main(tf) {
  /** key -> tf.Variable [size, size] */
  const averages = new Map();

  // part.data is a SharedArrayBuffer that the main thread reuses for a later batch once this request
  // is done (accumulate), or a transferred ArrayBuffer (multiply). wasm copies into its heap on
  // creation; cpu would keep the array itself, so copy it there.
  function tensor(part) {
    const view = new Float32Array(part.data, 0, part.shape[0] * part.shape[1]);
    return tf.tensor2d(backend === 'wasm' ? view : view.slice(), part.shape);
  }

  // matMulTransposeA of shared/matmul.ts: wasm's MatMul with transposeA is slow, so transpose first.
  function gramOf(a) {
    if (tf.getBackend() !== 'wasm') return tf.matMul(a, a, true, false);
    return tf.tidy(() => tf.matMul(tf.transpose(a, [1, 0]), a));
  }

  // batchFactors of factors.ts.
  function batchGram(term) {
    const x = tensor(term.rows);
    const rowCount = term.rows.shape[0];
    let gram;
    if (term.rowsTransposed) {
      const xT = tensor(term.rowsTransposed);
      gram = tf.matMul(xT, x);
      if (term.augment) {
        const s = tf.sum(xT, 1, true);
        const corner = tf.fill([1, 1], rowCount);
        gram = tf.concat([tf.concat([gram, s], 1), tf.concat([tf.transpose(s), corner], 1)], 0);
      }
    } else {
      gram = gramOf(term.augment ? tf.concat([x, tf.ones([rowCount, 1])], 1) : x);
    }
    const scaled = 'divide' in term.scale ? tf.div(gram, term.scale.divide) : tf.mul(gram, term.scale.multiply);
    // toKernelOrder of factors.ts: gather axis 0, then axis 1
    return term.permutation ? tf.gather(tf.gather(scaled, term.permutation, 0), term.permutation, 1) : scaled;
  }

  function average(key) {
    const v = averages.get(key);
    if (v === undefined) throw new Error(`no accumulator "${key}" (allocate it first)`);
    return v;
  }

  const handlers = {
    allocate({ sizes }) {
      for (const [key, size] of Object.entries(sizes)) {
        averages.get(key)?.dispose();
        averages.set(key, tf.tidy(() => tf.variable(tf.zeros([size, size], 'float32'), false)));
      }
    },
    accumulate({ terms, decay }) {
      for (const term of terms) {
        const v = average(term.key);
        // emaAssign of shared/ema.ts
        tf.tidy(() => v.assign(tf.add(tf.mul(v, decay), tf.mul(batchGram(term), 1 - decay))));
      }
    },
    read({ seq, keys }) {
      const values = {};
      for (const key of keys) values[key] = average(key).dataSync().slice();
      replies.postMessage({ seq, values }, Object.values(values).map((v) => v.buffer));
    },
    // KfacEstimator.multiply of @natgrad/curvature (estimator.ts) before its debias scale.
    multiply({ seq, requests }) {
      const products = requests.map(({ aKey, gKey, vector }) => {
        const product = tf.tidy(() => tf.matMul(tf.matMul(average(aKey), tensor(vector)), average(gKey)));
        // Read outside tf.tidy: a read inside a tidy scope costs ~10x more (measured on wasm).
        const values = product.dataSync().slice();
        product.dispose();
        return values;
      });
      replies.postMessage({ seq, products }, products.map((p) => p.buffer));
    },
    write({ values }) {
      for (const [key, data] of Object.entries(values)) {
        const v = average(key);
        if (data.length !== v.size) throw new Error(`write "${key}": ${data.length} values for a ${v.shape.join('x')} accumulator`);
        tf.tidy(() => v.assign(tf.tensor(data, v.shape)));
      }
    },
    release({ keys }) {
      for (const key of keys) {
        averages.get(key)?.dispose();
        averages.delete(key);
      }
    },
  };

  parentPort.on('message', (message) => {
    try {
      handlers[message.op](message);
    } catch (error) {
      replies.postMessage({ seq: message.seq, error: String(error?.message ?? error) });
      Atomics.store(control, FAILED, message.seq);
    }
    Atomics.store(control, DONE, message.seq);
    Atomics.notify(control, DONE);
  });
  parentPort.postMessage({ ready: true, backend: tf.getBackend() });
}

loadTf().then(main, (error) => parentPort.postMessage({ ready: false, error: String(error?.message ?? error) }));
