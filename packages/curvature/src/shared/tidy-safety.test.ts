import * as tf from '@tensorflow/tfjs';
import type { CurvatureEstimator, ParamMap } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { diagonal } from '../diagonal/estimator';
import { kfac } from '../kfac/estimator';
import { denseProblem } from '../testing/brute-force';

// A caller may run any estimator call inside its own tf.tidy (the synchronous part of an async
// call then runs in that scope). State the estimator keeps must survive the tidy's end.
const estimators: [string, () => CurvatureEstimator][] = [
  ['kfac (pi)', () => kfac({ damping: 'pi' })],
  ['kfac (eigen)', () => kfac({ damping: 'eigen' })],
  ['diagonal', () => diagonal()],
];

async function values(map: ParamMap): Promise<number[]> {
  const out: number[] = [];
  for (const k of Object.keys(map).sort()) out.push(...(await map[k].data()));
  tf.dispose(Object.values(map));
  return out;
}

describe("estimator state survives the caller's tf.tidy", () => {
  for (const [name, make] of estimators) {
    it(`${name}: updateStatistics, refreshInverses and setState inside tf.tidy, then precondition works and matches`, async () => {
      const p = await denseProblem(41, 4, 3, 2);
      const vars = { [p.layer.kernel]: p.kernel, [p.layer.bias!]: p.bias! };
      const batch = { captures: { [p.layer.name]: p.capture }, grads: {}, batchSize: 4 };
      const before = tf.memory().numTensors;

      // Reference: the same calls outside any tidy.
      const plain = make();
      plain.init([p.layer], vars);
      await plain.updateStatistics(batch);
      await plain.refreshInverses(0.1);
      const expected = await values(plain.precondition(vars));

      const tidied = make();
      tidied.init([p.layer], vars);
      let pending: Promise<void> = Promise.resolve();
      tf.tidy(() => {
        pending = tidied.updateStatistics(batch);
      });
      await pending;
      tf.tidy(() => {
        pending = tidied.refreshInverses(0.1);
      });
      await pending;
      expect(await values(tidied.precondition(vars))).toEqual(expected);

      // setState (synchronous) inside a tidy: its restored statistics and cache survive too.
      const state = plain.getState();
      const restored = make();
      restored.init([p.layer], vars);
      tf.tidy(() => restored.setState(state));
      tf.dispose(Object.values(state.tensors));
      if (restored.pendingRefresh != null) await restored.refreshInverses(restored.pendingRefresh);
      expect(await values(restored.precondition(vars))).toEqual(expected);

      for (const e of [plain, tidied, restored]) e.dispose();
      expect(tf.memory().numTensors).toBe(before);
      p.dispose();
    });
  }
});
