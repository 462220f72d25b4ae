import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { createStatisticsWorker } from '@natgrad/backends/node';
import { type CurvatureBatch, type LayerCapture, NatgradError, type StatisticsWorker } from '@natgrad/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ConvProblem, type DenseProblem, convProblem, denseProblem } from '../testing/brute-force';
import { type KfacEstimator, kfac } from './estimator';

type Problem = DenseProblem | ConvProblem;

function vars(problems: Problem[]): Record<string, tf.Variable> {
  return Object.fromEntries(problems.flatMap((p) => [[p.layer.kernel, p.kernel], ...(p.bias === null ? [] : [[p.layer.bias!, p.bias]])]));
}

/**
 * Batch `step`: every capture scaled by a step-dependent factor (different statistics per step);
 * the first Dense layer also hands over the transposes its backward would form (the shared-transpose path).
 */
function batchAt(problems: Problem[], step: number): { batch: CurvatureBatch; dispose: () => void } {
  const owned: tf.Tensor[] = [];
  const captures: Record<string, LayerCapture> = {};
  problems.forEach((p, i) => {
    const input = tf.mul(p.capture.input, 1 + 0.25 * step);
    const outputGrad = tf.mul(p.capture.outputGrad, 1 - 0.125 * step);
    owned.push(input, outputGrad);
    const capture: LayerCapture = { input, outputGrad };
    if (i === 0 && p.layer.kind === 'dense') {
      capture.inputTransposed = tf.transpose(input);
      capture.outputGradTransposed = tf.transpose(outputGrad);
      owned.push(capture.inputTransposed, capture.outputGradTransposed);
    }
    captures[p.layer.name] = capture;
  });
  return { batch: { captures, grads: {}, batchSize: problems[0].capture.input.shape[0] }, dispose: () => tf.dispose(owned) };
}

async function same(a: tf.Tensor, b: tf.Tensor): Promise<boolean> {
  const [x, y] = await Promise.all([a.data(), b.data()]);
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]));
}

async function expectSameFactors(inline: KfacEstimator, offloaded: KfacEstimator, problems: Problem[]): Promise<void> {
  for (const p of problems) {
    const f1 = inline.factors(p.layer.name);
    const f2 = offloaded.factors(p.layer.name);
    expect(await same(f1.a, f2.a), `${p.layer.name} A`).toBe(true);
    expect(await same(f1.g, f2.g), `${p.layer.name} G`).toBe(true);
    tf.dispose([f1.a, f1.g, f2.a, f2.g]);
  }
}

const workers: StatisticsWorker[] = [];

/** A StatisticsWorker that only records which calls reached it (for the backend checks). */
function recordingWorker(calls: string[]): StatisticsWorker {
  return {
    backend: 'cpu',
    allocate: () => calls.push('allocate'),
    accumulate: () => calls.push('accumulate'),
    read: () => {
      calls.push('read');
      return {};
    },
    multiply: () => {
      calls.push('multiply');
      return () => [];
    },
    write: () => calls.push('write'),
    release: () => calls.push('release'),
    terminate: async () => {
      calls.push('terminate');
    },
  };
}

// The worker tests are about the host backends, so they pick 'cpu' and 'wasm' themselves; the
// backend this file started on (NATGRAD_TEST_BACKEND) is restored at the end.
let startBackend = 'cpu';

describe('kfac with a statistics worker', () => {
  beforeAll(() => {
    startBackend = tf.getBackend();
  });
  afterAll(async () => {
    for (const w of workers) await w.terminate();
    await tf.setBackend(startBackend);
  });

  it('is refused on a backend without host storage (UNSUPPORTED_BACKEND) at construction, init and updateStatistics', async () => {
    const code = (fn: () => unknown): string | undefined => {
      try {
        fn();
      } catch (err) {
        return (err as NatgradError).code;
      }
      return undefined;
    };
    const calls: string[] = [];
    await tf.setBackend('cpu');
    const p = await denseProblem(48, 4, 3, 2);
    const { batch, dispose } = batchAt([p], 0);
    // Built and initialised on cpu, used after a switch to a device backend.
    const early = kfac({ statisticsWorker: recordingWorker(calls) });
    const ready = kfac({ statisticsWorker: recordingWorker(calls) });
    ready.init([p.layer], vars([p]));
    calls.length = 0;
    // A stand-in for WebGPU: a backend under another name (the cpu kernels are not registered for
    // it, and none is needed: every check comes before any op).
    const cpuBackend = tf.findBackend('cpu') as unknown as { constructor: new () => tf.KernelBackend };
    tf.registerBackend('natgrad-device-stand-in', () => new cpuBackend.constructor());
    await tf.setBackend('natgrad-device-stand-in');
    try {
      expect(code(() => kfac({ statisticsWorker: recordingWorker(calls) }))).toBe('UNSUPPORTED_BACKEND');
      expect(() => kfac({ statisticsWorker: recordingWorker(calls) })).toThrow(/drop statisticsWorker/);
      expect(code(() => early.init([p.layer], vars([p])))).toBe('UNSUPPORTED_BACKEND');
      await expect(ready.updateStatistics(batch)).rejects.toThrow(NatgradError);
      await expect(ready.updateStatistics(batch)).rejects.toMatchObject({ code: 'UNSUPPORTED_BACKEND' });
      expect(calls).toEqual([]); // nothing was copied to the worker
      expect(ready.statisticsSteps).toBe(0);
    } finally {
      await tf.setBackend('cpu');
      tf.removeBackend('natgrad-device-stand-in');
    }
    // The backend the test file runs on: a device backend (webgpu) refuses the worker too.
    if (startBackend !== 'cpu' && startBackend !== 'wasm') {
      await tf.setBackend(startBackend);
      expect(code(() => kfac({ statisticsWorker: recordingWorker(calls) }))).toBe('UNSUPPORTED_BACKEND');
      await tf.setBackend('cpu');
    }
    dispose();
    for (const e of [early, ready]) e.dispose();
    p.dispose();
  });

  for (const backend of ['cpu', 'wasm'] as const) {
    it(`gives bit-identical factors, inverses and states to the inline statistics (${backend})`, async () => {
      // The problems are built on cpu (their brute-force gradients need kernels stock wasm lacks);
      // their tensors move to the tested backend on first use.
      await tf.setBackend('cpu');
      const problems: Problem[] = [
        await denseProblem(41, 6, 5, 3),
        await denseProblem(42, 6, 4, 3, false),
        await convProblem(43, { n: 6, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: 'same' }),
      ];
      await tf.setBackend(backend);
      const worker = await createStatisticsWorker();
      workers.push(worker);
      expect(worker.backend).toBe(backend);
      const layers = problems.map((p) => p.layer);
      const inline = kfac({ decay: 0.9 });
      const offloaded = kfac({ decay: 0.9, statisticsWorker: worker });
      inline.init(layers, vars(problems));
      offloaded.init(layers, vars(problems));

      const before = tf.memory().numTensors;
      // Five batches: more than the worker's ring of reused transfer buffers (maxInFlight + 1 = 3).
      for (let step = 0; step < 5; step++) {
        const { batch, dispose } = batchAt(problems, step);
        await inline.updateStatistics(batch);
        await offloaded.updateStatistics(batch);
        dispose();
      }
      expect(tf.memory().numTensors).toBe(before);
      await expectSameFactors(inline, offloaded, problems);

      await inline.refreshInverses(0.01);
      await offloaded.refreshInverses(0.01);
      const grads = Object.fromEntries(Object.entries(vars(problems)).map(([k, v]) => [k, tf.mul(v, 0.5)]));
      const p1 = inline.precondition(grads);
      const p2 = offloaded.precondition(grads);
      for (const k of Object.keys(grads)) expect(await same(p1[k], p2[k]), k).toBe(true);
      tf.dispose([...Object.values(grads), ...Object.values(p1), ...Object.values(p2)]);

      // A state taken from the inline estimator continues bit-identically on the worker.
      const state = inline.getState();
      const resumed = kfac({ decay: 0.9, statisticsWorker: worker });
      resumed.init(layers, vars(problems));
      resumed.setState(state);
      tf.dispose(Object.values(state.tensors));
      const { batch, dispose } = batchAt(problems, 5);
      await inline.updateStatistics(batch);
      await resumed.updateStatistics(batch);
      dispose();
      await expectSameFactors(inline, resumed, problems);
      const s1 = inline.getState();
      const s2 = resumed.getState();
      for (const k of Object.keys(s1.tensors)) expect(await same(s1.tensors[k], s2.tensors[k]), k).toBe(true);
      tf.dispose([...Object.values(s1.tensors), ...Object.values(s2.tensors)]);

      for (const e of [inline, offloaded, resumed]) e.dispose();
      for (const p of problems) p.dispose();
    });
  }

  it('beginMultiply computes A·W·G on the worker (Dense and Conv2D blocks), bit-identical to multiply(), also a batch ahead', async () => {
    await tf.setBackend('cpu');
    const problems: Problem[] = [
      await denseProblem(45, 6, 5, 3),
      await denseProblem(46, 6, 3, 4, false),
      // several taps and input channels: A in kernel order, gathered on the worker
      await convProblem(47, { n: 6, size: [5, 5], cin: 2, cout: 3, kernel: [3, 3], strides: [1, 1], dilation: [1, 1], padding: 'same' }),
    ];
    await tf.setBackend('wasm');
    const worker = await createStatisticsWorker();
    workers.push(worker);
    const layers = problems.map((p) => p.layer);
    const inline = kfac({ decay: 0.9 });
    const offloaded = kfac({ decay: 0.9, statisticsWorker: worker });
    inline.init(layers, vars(problems));
    offloaded.init(layers, vars(problems));
    const vectors = Object.fromEntries(Object.entries(vars(problems)).map(([k, v]) => [k, tf.mul(v, -0.75)]));
    for (let step = 0; step < 2; step++) {
      // step 0: the worker is a batch ahead of the estimator's variables; step 1: in sync
      const { batch, dispose } = batchAt(problems, step);
      await inline.updateStatistics(batch);
      await offloaded.updateStatistics(batch);
      dispose();
      if (step === 1) offloaded.waitForStatistics();
      const before = tf.memory().numTensors;
      const finish = offloaded.beginMultiply(vectors);
      expect(tf.memory().numTensors).toBe(before);
      const got = finish();
      const expected = inline.multiply(vectors);
      for (const k of Object.keys(vectors)) expect(await same(got[k], expected[k]), k).toBe(true);
      tf.dispose([...Object.values(got), ...Object.values(expected)]);
    }
    // Without a worker beginMultiply is multiply().
    const finish = inline.beginMultiply(vectors);
    const plain = inline.multiply(vectors);
    const early = finish();
    for (const k of Object.keys(vectors)) expect(await same(early[k], plain[k]), k).toBe(true);
    tf.dispose([...Object.values(vectors), ...Object.values(plain), ...Object.values(early)]);
    for (const e of [inline, offloaded]) e.dispose();
    for (const p of problems) p.dispose();
  });

  it('rejects a value that is not a worker, and reports use after terminate()', async () => {
    await tf.setBackend('cpu');
    expect(() => kfac({ statisticsWorker: {} as StatisticsWorker })).toThrow(NatgradError);
    expect(() => kfac({ statisticsWorker: {} as StatisticsWorker })).toThrow(/createStatisticsWorker/);
    const worker = await createStatisticsWorker();
    const p = await denseProblem(44, 4, 3, 2);
    const est = kfac({ statisticsWorker: worker });
    est.init([p.layer], vars([p]));
    await worker.terminate();
    const { batch, dispose } = batchAt([p], 0);
    const before = tf.memory().numTensors;
    await expect(est.updateStatistics(batch)).rejects.toThrow(/after terminate\(\)/);
    expect(tf.memory().numTensors).toBe(before);
    dispose();
    est.dispose(); // releasing keys of a terminated worker is allowed
    p.dispose();
  });
});
