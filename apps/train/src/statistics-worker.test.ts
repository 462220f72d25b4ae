import { NatgradError } from '@natgrad/core';
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { parseTrainFlags } from './flags/train-flags';
import { estimateGramMacs, placeStatistics } from './statistics-worker';

const kfac = { curvature: 'kfac' as const, statisticsWorker: 'auto' as const };

describe('--statistics-worker', () => {
  it('auto uses a worker for KFAC on wasm with >= 2 cores only, and says why not otherwise', async () => {
    expect((await placeStatistics({ ...kfac, curvature: 'diagonal' }, 'wasm', 2e9, 8)).line).toBe(
      'statistics: main thread (auto: curvature diagonal (the worker computes KFAC statistics))',
    );
    expect((await placeStatistics(kfac, 'webgpu', 2e9, 8)).line).toMatch(/main thread \(auto: backend webgpu \(GPU backends/);
    expect((await placeStatistics(kfac, 'wasm', 2e9, 1)).line).toBe('statistics: main thread (auto: 1 core available)');
    // cpu is only a test backend: auto leaves it alone, `on` is honoured.
    expect((await placeStatistics(kfac, 'cpu', 2e9, 8)).worker).toBeUndefined();
    expect((await placeStatistics({ ...kfac, statisticsWorker: 'off' }, 'wasm', 2e9, 8)).line).toBe('statistics: main thread (--statistics-worker off)');
    expect((await placeStatistics(kfac, 'wasm', 0.9e9, 8)).line).toBe(
      'statistics: main thread (auto: 0.90 GMAC of statistics per step, under the 1 GMAC where a worker pays)',
    );
    expect((await placeStatistics({ ...kfac, projection: 'identity', factorEvery: 10, inverseEvery: 10 }, 'wasm', 2e9, 8)).line).toMatch(/statistics only on inverse-refresh steps/);
    // FOP overlaps its F·g_avg product at any cadence.
    const fop = await placeStatistics({ ...kfac, projection: 'fop', factorEvery: 10, inverseEvery: 10 }, 'wasm', 2e9, 8);
    expect(fop.line).toMatch(/^statistics: worker thread/);
    await fop.worker?.terminate();
    // Configs written before the flag existed have no key: auto.
    expect((await placeStatistics({ curvature: 'none' }, 'wasm', 2e9, 8)).worker).toBeUndefined();
  });

  it('on starts a worker where possible and refuses with a clear error elsewhere', async () => {
    await tf.setBackend('cpu');
    const placed = await placeStatistics({ ...kfac, statisticsWorker: 'on' }, 'cpu', 0, 2);
    expect(placed.worker?.backend).toBe('cpu');
    expect(placed.line).toMatch(/^statistics: worker thread \(cpu, 2 cores/);
    await placed.worker?.terminate();
    const refused = placeStatistics({ ...kfac, statisticsWorker: 'on' }, 'webgpu', 2e9, 8);
    await expect(refused).rejects.toThrow(NatgradError);
    await expect(placeStatistics({ ...kfac, statisticsWorker: 'on' }, 'webgpu', 2e9, 8)).rejects.toThrow(/--statistics-worker on: not possible with backend webgpu/);
  });

  it('estimates the Gram products of Dense and Conv2D layers', () => {
    const model = tf.sequential({
      layers: [
        tf.layers.conv2d({ inputShape: [8, 8, 2], filters: 4, kernelSize: 3, padding: 'same' }),
        tf.layers.flatten(),
        tf.layers.dense({ units: 5, useBias: false }),
      ],
    });
    // conv: rows 10 * 8 * 8, P = 3*3*2 + 1, O = 4; dense: rows 10, P = 8*8*4, O = 5
    expect(estimateGramMacs(model, 10)).toBe(640 * (19 * 19 + 16) + 10 * (256 * 256 + 25));
    model.dispose();
  });

  it('is a validated train flag (default auto)', () => {
    expect(parseTrainFlags([]).config.statisticsWorker).toBe('auto');
    expect(parseTrainFlags(['--statistics-worker', 'off']).config.statisticsWorker).toBe('off');
    expect(() => parseTrainFlags(['--statistics-worker', 'yes'])).toThrow(/allowed values: auto, on, off/);
  });
});
