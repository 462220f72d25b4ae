/**
 * The native path is exercised against a FAKE tfjs-node backend: the active cpu backend is given
 * tfjs-node's op-execution interface (executeSingleOutput / executeMultipleOutputs / binding), backed
 * by the float64 host routines. This proves detection, dispatch, attributes, error mapping and tensor
 * ownership; it does not prove anything about real TensorFlow, which cannot be installed here.
 * It stays on the cpu backend whatever NATGRAD_TEST_BACKEND says: the fake stands in for tfjs-node's
 * 'tensorflow' backend, whose op calls are synchronous, so it reads its inputs with dataSync, which
 * only a backend with host storage can do.
 */
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostCholesky, hostEigh } from './host';
import { cholesky, choleskySolve, chooseMethod, dampedInverse, detectNativeBackend, eigh, inverseResidual } from './index';
import type { NativeOpAttr } from './native';
import { randomSpd } from './test-matrices';

const BINDING = { TF_ATTR_TYPE: 7, TF_ATTR_BOOL: 3, TF_FLOAT: 1 };
const calls: { name: string; attrs: NativeOpAttr[] }[] = [];

function attr(attrs: NativeOpAttr[], name: string): unknown {
  return attrs.find((a) => a.name === name)?.value;
}

function read(t: tf.Tensor): Float64Array {
  return Float64Array.from(t.dataSync() as Float32Array);
}

const fake = {
  binding: BINDING,
  executeSingleOutput(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[]): tf.Tensor {
    calls.push({ name, attrs });
    expect(attrs.find((a) => a.name === 'T')).toEqual({ name: 'T', type: BINDING.TF_ATTR_TYPE, value: BINDING.TF_FLOAT });
    const n = inputs[0].shape[0];
    if (name === 'Cholesky') {
      try {
        return tf.tensor2d(Float32Array.from(hostCholesky(read(inputs[0]), n)), [n, n]);
      } catch {
        throw new Error('Cholesky decomposition was not successful. The input might not be valid.');
      }
    }
    if (name === 'MatrixTriangularSolve') {
      const l = read(inputs[0]);
      const b = read(inputs[1]);
      const m = inputs[1].shape[1] as number;
      const adjoint = attr(attrs, 'adjoint') === true;
      expect(attr(attrs, 'lower')).toBe(true);
      const x = new Float64Array(n * m);
      for (let c = 0; c < m; c++) {
        const order = adjoint ? Array.from({ length: n }, (_, i) => n - 1 - i) : Array.from({ length: n }, (_, i) => i);
        for (const i of order) {
          let s = b[i * m + c];
          for (let k = 0; k < n; k++) {
            const lik = adjoint ? l[k * n + i] : l[i * n + k];
            if ((adjoint && k > i) || (!adjoint && k < i)) s -= lik * x[k * m + c];
          }
          x[i * m + c] = s / l[i * n + i];
        }
      }
      return tf.tensor2d(Float32Array.from(x), [n, m]);
    }
    throw new Error(`fake backend: unknown op ${name}`);
  },
  executeMultipleOutputs(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[] {
    calls.push({ name, attrs });
    expect(name).toBe('SelfAdjointEigV2');
    expect(numOutputs).toBe(2);
    expect(attr(attrs, 'compute_v')).toBe(true);
    const n = inputs[0].shape[0];
    const r = hostEigh(read(inputs[0]), n);
    return [tf.tensor1d(Float32Array.from(r.values)), tf.tensor2d(Float32Array.from(r.vectors), [n, n])];
  },
};

function installFake(): void {
  Object.assign(tf.backend(), fake);
}

afterEach(() => {
  const b = tf.backend() as unknown as Record<string, unknown>;
  delete b.binding;
  delete b.executeSingleOutput;
  delete b.executeMultipleOutputs;
  calls.length = 0;
});

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const code = (c: string) => expect.objectContaining({ code: c });

describe('native TensorFlow ops (fake tfjs-node backend)', () => {
  it('detects the op-execution interface only when it is complete', () => {
    expect(detectNativeBackend()).toBeNull();
    expect(detectNativeBackend({ executeSingleOutput() {}, executeMultipleOutputs() {} })).toBeNull();
    installFake();
    expect(detectNativeBackend()).not.toBeNull();
  });

  it('dampedInverse runs Cholesky + two triangular solves and matches the host inverse', async () => {
    installFake();
    const n = 20;
    const a = tf.tensor2d(Float32Array.from(randomSpd(n, 1e3, 2)), [n, n]);
    const before = tf.memory().numTensors;
    const x = await dampedInverse(a, 0.01, { method: 'native' });
    expect(tf.memory().numTensors).toBe(before + 1);
    expect(calls.map((c) => c.name)).toEqual(['Cholesky', 'MatrixTriangularSolve', 'MatrixTriangularSolve']);
    expect(calls.map((c) => attr(c.attrs, 'adjoint'))).toEqual([undefined, false, true]);
    expect(await inverseResidual(a, 0.01, x)).toBeLessThan(1e-5);
    tf.dispose([a, x]);
  });

  it('cholesky, choleskySolve and eigh dispatch to native ops', async () => {
    installFake();
    const n = 6;
    const a = tf.tensor2d(Float32Array.from(randomSpd(n, 10, 3)), [n, n]);
    const b = tf.ones([n, 2]) as tf.Tensor2D;
    const before = tf.memory().numTensors;
    const l = await cholesky(a, 0, { method: 'native' });
    const x = await choleskySolve(l, b, { method: 'native' });
    const { values, vectors } = await eigh(a, { method: 'native' });
    expect(tf.memory().numTensors).toBe(before + 4);
    expect(calls.map((c) => c.name)).toEqual(['Cholesky', 'MatrixTriangularSolve', 'MatrixTriangularSolve', 'SelfAdjointEigV2']);
    const lh = await cholesky(a, 0, { method: 'host' });
    const xh = await choleskySolve(lh, b, { method: 'host' });
    const eh = await eigh(a, { method: 'host' });
    for (const [p, q] of [[l, lh], [x, xh], [values, eh.values]] as const) {
      const pd = await p.data();
      (await q.data()).forEach((v, i) => {
        expect(pd[i]).toBeCloseTo(v, 4);
      });
    }
    tf.dispose([a, b, l, x, values, vectors, lh, xh, eh.values, eh.vectors]);
  });

  it('maps a failing native Cholesky to NOT_POSITIVE_DEFINITE without leaking', async () => {
    installFake();
    const a = tf.tensor2d([1, 2, 2, 1], [2, 2]);
    const before = tf.memory().numTensors;
    await expect(dampedInverse(a, 0, { method: 'native' })).rejects.toThrow(code('NOT_POSITIVE_DEFINITE'));
    expect(tf.memory().numTensors).toBe(before);
    a.dispose();
  });

  it("'auto' picks native only on a tensorflow backend that has the ops", async () => {
    expect(chooseMethod(512, 'tensorflow', { nativeAvailable: true }).method).toBe('native');
    expect(chooseMethod(512, 'tensorflow', { nativeAvailable: false }).method).toBe('blocked');
    expect(chooseMethod(512, 'wasm', { nativeAvailable: true }).method).toBe('blocked');
    installFake();
    // The active backend is named 'cpu', so even with the ops 'auto' keeps to the cpu policy.
    const a = tf.eye(4) as tf.Tensor2D;
    const x = await dampedInverse(a, 0);
    expect(calls).toHaveLength(0);
    tf.dispose([a, x]);
  });
});
