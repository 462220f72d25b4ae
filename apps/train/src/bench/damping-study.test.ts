/**
 * The damping axis of `natgrad bench study` (preset `damping`, issue 14), on a micro preset of the
 * same shape (tiny MLP, 128 embedded MNIST digits, wasm, one epoch): KFAC and FOP cross their lr
 * grid with every damping, the lr is tuned on the first seed and the second seed runs only the
 * chosen point, FOP cells carry their mean beta* and eta*, and the tables, the plot and a resume work.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../commands/output';
import { loadDataset } from '../data/load';
import { dampingMarkdown, tunedRows } from './damping-report';
import { meanCoefficients } from './fop-diagnostics-probe';
import { type CellResult, aggregate, runStudy, tunedGridIndex } from './study';
import { STUDY_PRESETS, type StudyPreset, expandCells } from './study-config';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-damping-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const MICRO_DAMPING: StudyPreset = {
  name: 'micro-damping',
  description: 'test: tiny MLP, 128 digits, two dampings, lr tuned on seed 1',
  dataset: 'mnist',
  models: [{ model: 'mlp', width: 16, trainSize: 128, testSize: 64, batches: [64], epochs: 1, target: 0.2 }],
  optimizers: ['sgd', 'kfac', 'fop'],
  seeds: [1, 2],
  baseLr: { sgd: 0.5, kfac: 0.2, fop: 0.2 },
  grid: { sgd: [{ lrScale: 1 }, { lrScale: 0.1 }], kfac: [{ lrScale: 1 }, { lrScale: 0.1 }], fop: [{ lrScale: 1 }, { lrScale: 0.1 }] },
  dampings: [1e-3, 1e-1],
  tuneOnFirstSeed: true,
};

function cell(over: Partial<CellResult>): CellResult {
  return {
    id: 'x', model: 'mlp', batch: 64, optimizer: 'fop', gridIndex: 0, lr: 0.1, damping: 0.01, seed: 1, inverseEvery: 1, target: 0.5,
    epochsToTarget: null, stepsToTarget: null, secondsToTarget: null, bestAccuracy: 0.4, finalAccuracy: 0.4, trainingSeconds: 1, wallSeconds: 1,
    skippedSteps: 0, diverged: false, fopBeta: null, fopEta: null, fopSteps: 0, error: null, records: [],
    ...over,
  };
}

describe('natgrad bench study: the damping axis', () => {
  it('expands the damping preset: KFAC/FOP x lr grid x damping, baselines once, sqrt lr scaling, interleaved', () => {
    const p = STUDY_PRESETS.damping;
    const cells = expandCells(p, () => 60000);
    // Per batch, seed and lr point: sgd + adamw + 4 dampings x (kfac + fop) = 10; full batch runs
    // both lr points, batch 8192 only the first (gridPoints); the CNN (batch 8192, first point) has
    // its own two dampings: sgd + adamw + 2 x (kfac + fop) = 6.
    expect(cells).toHaveLength(2 * 2 * 10 + 2 * 1 * 10 + 2 * 1 * 6);
    const cnn = cells.filter((c) => c.model.model === 'cnn');
    expect(new Set(cnn.map((c) => c.damping))).toEqual(new Set([null, 1e-3, 1e-2]));
    expect(cnn.map((c) => c.batch)).toEqual(cnn.map(() => 8192));
    expect(new Set(cells.filter((c) => c.batch === 8192).map((c) => c.gridIndex))).toEqual(new Set([0]));
    expect(new Set(cells.filter((c) => c.batch === 60000).map((c) => c.gridIndex))).toEqual(new Set([0, 1]));
    expect(new Set(cells.map((c) => c.id)).size).toBe(cells.length);
    const fb = cells.filter((c) => c.batch === 60000 && c.seed === 1 && c.gridIndex === 0);
    expect(fb.map((c) => `${c.optimizer}${c.damping === null ? '' : `@${c.damping}`}`)).toEqual([
      'sgd', 'adamw', 'kfac@0.0001', 'fop@0.0001', 'kfac@0.001', 'fop@0.001', 'kfac@0.01', 'fop@0.01', 'kfac@0.1', 'fop@0.1',
    ]);
    const fop = fb.find((c) => c.optimizer === 'fop' && c.damping === 1e-4)!;
    expect(fop.lr).toBeCloseTo(0.05 * Math.sqrt(60000 / 1024) * 0.4, 3);
    expect(fop.argv.join(' ')).toContain('--damping 0.0001 --factor-every 1 --inverse-every 1');
    expect(fop.id).toBe('mlp-b60000-fop-d0.0001-g0-s1');
    expect(fop.stepsPerEpoch).toBe(1);
    const sub = cells.find((c) => c.batch === 8192 && c.optimizer === 'kfac')!;
    expect(sub.stepsPerEpoch).toBe(7);
    expect(sub.inverseEvery).toBe(4);
    // The same lr grid for both curvature methods at every damping.
    const lrs = (o: string) => cells.filter((c) => c.optimizer === o && c.batch === 60000 && c.seed === 1).map((c) => `${c.damping}:${c.lr}`);
    expect(lrs('kfac')).toEqual(lrs('fop'));
    // Older presets keep their ids (their study folders still resume).
    expect(expandCells(STUDY_PRESETS.fullbatch, () => 12000)[0].id).toBe('mlp-b12000-sgd-g0-s1');
  });

  it('tunes on the first seed: fewest steps to target, then best accuracy, per optimizer and damping', () => {
    const plan = expandCells(MICRO_DAMPING, () => 128);
    const seed2 = plan.find((c) => c.seed === 2 && c.optimizer === 'kfac' && c.damping === 0.1 && c.gridIndex === 0)!;
    const results = [
      cell({ optimizer: 'kfac', damping: 0.1, gridIndex: 0, stepsToTarget: 4, bestAccuracy: 0.9 }),
      cell({ optimizer: 'kfac', damping: 0.1, gridIndex: 1, stepsToTarget: 2, bestAccuracy: 0.6 }),
      cell({ optimizer: 'kfac', damping: 0.001, gridIndex: 0, stepsToTarget: 1, bestAccuracy: 0.9 }),
      cell({ optimizer: 'fop', damping: 0.1, gridIndex: 0, stepsToTarget: 1, bestAccuracy: 0.9 }),
    ];
    expect(tunedGridIndex(results, seed2, 1)).toBe(1);
    // Neither reached: the better best accuracy wins.
    const missed = [cell({ optimizer: 'kfac', damping: 0.1, gridIndex: 0, bestAccuracy: 0.3 }), cell({ optimizer: 'kfac', damping: 0.1, gridIndex: 1, bestAccuracy: 0.5 })];
    expect(tunedGridIndex(missed, seed2, 1)).toBe(1);
    expect(tunedGridIndex([], seed2, 1)).toBeNull();
  });

  it('aggregates steps, skipped steps, divergence and FOP coefficients per damping, and tabulates the tuned rows', () => {
    const cells = [
      cell({ damping: 1e-4, gridIndex: 0, seed: 1, epochsToTarget: 3, stepsToTarget: 3, secondsToTarget: 9, bestAccuracy: 0.8, fopBeta: 0.2, fopEta: 0.6, fopSteps: 5 }),
      cell({ damping: 1e-4, gridIndex: 0, seed: 2, epochsToTarget: 5, stepsToTarget: 5, secondsToTarget: 11, bestAccuracy: 0.7, fopBeta: 0.4, fopEta: 0.8, fopSteps: 5 }),
      cell({ damping: 1e-4, gridIndex: 1, seed: 1, bestAccuracy: 0.3, skippedSteps: 2, diverged: true }),
      cell({ optimizer: 'kfac', damping: 1e-4, gridIndex: 1, seed: 1, bestAccuracy: 0.45, skippedSteps: 3, diverged: true }),
      cell({ optimizer: 'kfac', damping: 1e-4, gridIndex: 1, seed: 2, bestAccuracy: 0.35, skippedSteps: 1, diverged: true }),
      cell({ optimizer: 'sgd', damping: null, seed: 1, epochsToTarget: 8, stepsToTarget: 8, secondsToTarget: 4, bestAccuracy: 0.6 }),
    ];
    const rows = aggregate(cells);
    const fop = rows.find((r) => r.optimizer === 'fop' && r.gridIndex === 0)!;
    expect(fop).toMatchObject({ seeds: 2, reached: 2, stepsToTarget: 4, secondsToTarget: 10, skippedSteps: 0, diverged: 0 });
    expect(fop.fopBeta).toBeCloseTo(0.3, 10);
    expect(fop.fopEta).toBeCloseTo(0.7, 10);
    const kfac = rows.find((r) => r.optimizer === 'kfac')!;
    expect(kfac).toMatchObject({ reached: 0, stepsToTarget: null, skippedSteps: 4, diverged: 2, fopBeta: null });
    // The two-seed row is the tuned one, not the one-seed grid point beside it.
    expect(tunedRows(rows).filter((r) => r.optimizer === 'fop').map((r) => r.gridIndex)).toEqual([0]);
    const md = dampingMarkdown(rows, ['sgd', 'kfac', 'fop']);
    expect(md).toContain('| method, batch | 0.0001 |');
    expect(md).toContain('| kfac, 64 | – (40.00%, 0/2, 2 diverged) |');
    expect(md).toContain('| fop, 64 | 4 / 10.0 s (2/2) |');
    expect(md).toContain('| sgd, 64 (no damping) | 8 / 4.0 s (1/1) |');
    expect(md).toContain('| 64 | fop | 0.0001 | 0.1 | 2/2 | 4 | 10.0 | 75.00% | 0 | 0/2 | 0.300 | 0.700 |');
  });

  it('averages beta* and eta* over the blocks that report them', () => {
    expect(meanCoefficients({ a: { beta: 0.2, eta: 0.5 }, b: { beta: 0.6, eta: 1 }, c: { s: 1 } })).toEqual({ beta: 0.4, eta: 0.75, blocks: 2 });
    expect(meanCoefficients({})).toBeNull();
  });

  it('records a diverged run (natgrad train exit 3) as a result instead of stopping the study', async () => {
    const data = await loadDataset('mnist');
    // An lr of 1e30 makes the weights, then the loss, non-finite: every step of the epoch is skipped.
    const preset: StudyPreset = { ...MICRO_DAMPING, name: 'micro-diverge', optimizers: ['sgd'], seeds: [1], baseLr: { sgd: 1e30 }, grid: { sgd: [{ lrScale: 1 }] }, dampings: undefined, tuneOnFirstSeed: false };
    preset.models = [{ ...MICRO_DAMPING.models[0], epochs: 3 }];
    const log = memoryOutput();
    const result = await runStudy({ preset, outDir: join(tmp, 'diverge'), backend: 'wasm', dataDir: null, trainCount: data.train.count }, log);
    expect(result.cells).toHaveLength(1);
    const [c] = result.cells;
    expect(c.error).toBeNull();
    expect(c.diverged).toBe(true);
    expect(c.skippedSteps).toBeGreaterThan(0);
    expect(c.stepsToTarget).toBeNull();
    expect(log.err.join('')).toContain('diverged, target not reached');
  }, 60_000);

  it('runs a micro damping study: seed 2 only at the tuned lr, FOP coefficients recorded, table, plot, resume', async () => {
    const data = await loadDataset('mnist');
    const dir = join(tmp, 'study');
    const opts = { preset: MICRO_DAMPING, outDir: dir, backend: 'wasm', dataDir: null, trainCount: data.train.count };
    const log = memoryOutput();
    const result = await runStudy(opts, log);
    // Seed 1: 2 lr points x (sgd + 2 dampings x (kfac + fop)) = 10; seed 2: the 5 tuned points.
    expect(result.cells).toHaveLength(15);
    const seed1 = result.cells.filter((c) => c.seed === 1);
    for (const c of result.cells.filter((c) => c.seed === 2)) {
      const plan = expandCells(MICRO_DAMPING, () => 128).find((p) => p.id === c.id)!;
      expect(c.gridIndex).toBe(tunedGridIndex(seed1, plan, 1));
    }
    for (const c of result.cells) {
      expect(c.error).toBeNull();
      expect(c.records).toHaveLength(1);
      if (c.optimizer === 'fop') {
        // 128 examples at batch 64: 2 steps, each with its block-mean coefficients.
        expect(c.fopSteps).toBe(2);
        expect(Number.isFinite(c.fopBeta)).toBe(true);
        expect(c.fopEta).toBeGreaterThanOrEqual(0.5);
        expect(c.fopEta).toBeLessThanOrEqual(1);
      } else {
        expect(c.fopSteps).toBe(0);
        expect(c.fopBeta).toBeNull();
      }
      if (c.stepsToTarget !== null) expect(c.stepsToTarget).toBe(2 * c.epochsToTarget!);
    }
    expect(new Set(result.cells.filter((c) => c.optimizer !== 'sgd').map((c) => c.damping))).toEqual(new Set([1e-3, 1e-1]));
    const md = readFileSync(join(dir, 'results.md'), 'utf8');
    expect(md).toContain('| method, batch | 0.001 | 0.1 |');
    expect(md).toContain('### Every cell');
    const svg = readFileSync(join(dir, 'mlp-damping.svg'), 'utf8');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg).toContain('damping');
    expect(existsSync(join(dir, 'mlp-b64.svg'))).toBe(false);

    const again = memoryOutput();
    const resumed = await runStudy(opts, again);
    expect(again.err.join('')).not.toMatch(/target (at epoch|not reached)/);
    expect(resumed.rows).toEqual(result.rows);
  }, 120_000);
});
