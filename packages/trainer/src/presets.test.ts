import * as tf from '@tensorflow/tfjs';
import { diagonal as diagonalCurvature } from '@natgrad/curvature';
import { average } from '@natgrad/projection';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type PresetName, adamw, fop, kfac, presets, sgd } from './presets';
import { blobs, mlp } from './testing/problems';
import { Trainer } from './trainer';

// A separable 4-class problem in 6 dimensions; 128 training examples, 64 held out. Made on the
// test backend (beforeAll runs after the setup file has chosen it).
let train: ReturnType<typeof blobs>;
let val: ReturnType<typeof blobs>;
beforeAll(() => {
  train = blobs({ n: 128, seed: 11, classes: 4, dims: 6 });
  val = blobs({ n: 64, seed: 12, classes: 4, dims: 6 });
});
afterAll(() => tf.dispose([train.x, train.y, val.x, val.y]));

// Learning rate and damping per preset, as the FOP paper's protocol tunes them per optimizer.
const settings: Record<PresetName, Record<string, number>> = {
  sgd: {},
  adamw: { learningRate: 0.03 },
  kfac: { learningRate: 0.01, damping: 0.01 },
  fop: { learningRate: 0.01, damping: 0.01 },
  diagonal: { learningRate: 0.01, damping: 0.01 },
  diagonalFop: { learningRate: 0.01, damping: 0.01 },
};

describe('presets', () => {
  for (const name of Object.keys(presets) as PresetName[]) {
    it(`${name}() trains a small MLP to >= 95% held-out accuracy in 32 steps (8 epochs of batch 32)`, async () => {
      const composition = presets[name](settings[name] as never);
      const t = Trainer.fromPreset(mlp({ dims: 6, classes: 4 }), 'categoricalCrossentropy', composition, { metrics: ['accuracy'], seed: 1 });
      const h = await t.fit(train.x, train.y, { epochs: 8, batchSize: 32, validationData: [val.x, val.y] });
      expect(h.history.val_acc[7]).toBeGreaterThanOrEqual(0.95);
      expect(h.history.loss[7]).toBeLessThan(h.history.loss[0]);
      expect(h.history.skippedSteps.reduce((a, b) => a + b, 0)).toBe(0);
      t.dispose();
    });
  }

  it('builds the documented compositions with anchor defaults, every part overridable by one argument', () => {
    const f = fop();
    expect(f.curvature?.name).toBe('kfac');
    expect(f.projection?.name).toBe('fisherOrthogonal');
    expect(f.projection?.subBatches).toBe(2);
    expect(f.damping?.value(0)).toBe(1e-3);
    expect([f.statisticsEvery, f.inverseEvery]).toEqual([1, 10]);
    expect(f.updateRule.name).toBe('sgd');
    expect((f.curvature as unknown as { decay: number }).decay).toBe(0.95);
    const swapped = fop({ curvature: diagonalCurvature() });
    expect(swapped.curvature?.name).not.toBe('kfac');
    expect(swapped.projection?.name).toBe('fisherOrthogonal');
    expect(kfac({ projection: average() }).projection?.name).toBe('average');
    expect(kfac().projection?.name).toBe('identity');
    expect(sgd().curvature).toBeUndefined();
    expect(adamw({ weightDecay: 0 }).updateRule.name).toBe('adamw');
    expect(() => fop({ dampnig: 1 } as never)).toThrow(/unknown option dampnig/);
    expect(() => adamw({ momentum: 0.9 })).toThrow(/SGD options/);
    for (const c of [f, swapped]) c.curvature?.dispose();
  });
});
