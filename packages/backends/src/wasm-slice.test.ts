import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { beforeAll, describe, expect, it } from 'vitest';
import { installWasmTrainingKernels } from './wasm-training-kernels';

/** Runs f on cpu and on wasm (with the heap kernels) and returns both results as plain arrays. */
async function onBoth(f: () => tf.Tensor | tf.Tensor[]): Promise<{ cpu: unknown; wasm: unknown }> {
  const run = async (backend: string) => {
    await tf.setBackend(backend);
    const before = tf.memory().numTensors;
    const out = tf.tidy(f);
    const list = Array.isArray(out) ? out : [out];
    const values = list.map((t) => ({ shape: t.shape, dtype: t.dtype, values: Array.from(t.dataSync() as ArrayLike<number>) }));
    tf.dispose(list);
    expect(tf.memory().numTensors).toBe(before);
    return values;
  };
  return { cpu: await run('cpu'), wasm: await run('wasm') };
}

function counting(n: number, dtype: 'float32' | 'int32' = 'float32'): (shape: number[]) => tf.Tensor {
  return (shape) => tf.tensor(Array.from({ length: n }, (_, i) => (dtype === 'int32' ? i : i * 0.5 - 3)), shape, dtype);
}

describe('wasm Slice/SplitV heap kernels', () => {
  beforeAll(() => {
    installWasmTrainingKernels();
  });

  const cases: { name: string; f: () => tf.Tensor | tf.Tensor[] }[] = [
    { name: 'contiguous row slice, 2-D', f: () => tf.slice(counting(60)([12, 5]), [3, 0], [4, -1]) },
    { name: 'column slice, 2-D (strided)', f: () => tf.slice(counting(60)([12, 5]), [2, 1], [5, 3]) },
    { name: '3-D box', f: () => tf.slice(counting(120)([4, 5, 6]), [1, 2, 1], [2, 3, 4]) },
    { name: '4-D box', f: () => tf.slice(counting(240)([2, 4, 5, 6]), [1, 1, 0, 2], [1, 2, 5, 3]) },
    { name: '5-D box', f: () => tf.slice(counting(720)([2, 3, 4, 5, 6]), [0, 1, 2, 1, 3], [2, 2, 2, 3, 2]) },
    { name: 'int32', f: () => tf.slice(counting(60, 'int32')([12, 5]), [1, 2], [3, 2]) },
    { name: 'empty', f: () => tf.slice(counting(60)([12, 5]), [3, 0], [0, 5]) },
    { name: 'split in halves along axis 0 (FOP sub-batches)', f: () => tf.split(counting(240)([8, 5, 6]), 2, 0) },
    { name: 'uneven split along axis 1', f: () => tf.split(counting(240)([8, 5, 6]), [1, 3, 1], 1) },
    { name: 'split along the last axis', f: () => tf.split(counting(60)([12, 5]), [2, 3], -1) },
    { name: 'gradient of a slice (pad of the upstream gradient)', f: () => tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.slice(x, [1, 1], [2, 3]), 3)))(counting(60)([12, 5])) },
  ];
  for (const c of cases) {
    it(`${c.name}: same result as cpu`, async () => {
      const { cpu, wasm } = await onBoth(c.f);
      expect(wasm).toEqual(cpu);
    });
  }

  it('leaves the input untouched and survives heap growth between calls', async () => {
    await tf.setBackend('wasm');
    const x = counting(4096 * 64)([4096, 64]);
    const copy = Array.from(x.dataSync());
    // A large allocation in between may grow (and re-map) the wasm heap.
    const big = tf.zeros([2048, 2048]);
    const [a, b] = tf.split(x, 2, 0);
    expect(Array.from(a.dataSync())).toEqual(copy.slice(0, 2048 * 64));
    expect(Array.from(b.dataSync())).toEqual(copy.slice(2048 * 64));
    expect(Array.from(x.dataSync())).toEqual(copy);
    tf.dispose([x, big, a, b]);
  });
});
