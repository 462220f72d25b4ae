/**
 * `natgrad bench study` with the micro preset (tiny MLP, 128 embedded MNIST digits, wasm): it
 * writes results.json, results.md and one SVG per batch, a second invocation resumes (runs no
 * cell again), and the aggregation takes medians over seeds with never-reached as +infinity.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../commands/output';
import { main } from '../main';
import { type CellResult, type StudyResult, aggregate, bestRows, studyMarkdown } from './study';
import { STUDY_PRESETS, expandCells } from './study-config';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-study-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cell(over: Partial<CellResult>): CellResult {
  return {
    id: 'x', model: 'mlp', batch: 64, optimizer: 'fop', gridIndex: 0, lr: 0.1, damping: 0.01, seed: 1, inverseEvery: 1, target: 0.5,
    epochsToTarget: null, stepsToTarget: null, secondsToTarget: null, bestAccuracy: 0.4, finalAccuracy: 0.4, trainingSeconds: 1, wallSeconds: 1, error: null, records: [],
    skippedSteps: 0, diverged: false, fopBeta: null, fopEta: null, fopSteps: 0,
    ...over,
  };
}

describe('natgrad bench study', () => {
  it('runs the micro preset, writes table, plots and results.json, and resumes without rerunning', async () => {
    const out = memoryOutput();
    const dir = join(tmp, 'micro');
    const code = await main(['bench', 'study', '--preset', 'micro', '--backend', 'wasm', '--out', dir], out);
    expect(code, out.err.join('')).toBe(0);
    const result = JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')) as StudyResult;
    // 1 model x 2 batches x 2 seeds x 1 grid point x 2 optimizers.
    expect(result.cells).toHaveLength(8);
    expect(result.rows).toHaveLength(4);
    for (const c of result.cells) {
      expect(c.error).toBeNull();
      expect(c.records).toHaveLength(1);
      expect(c.bestAccuracy).toBeGreaterThan(0);
    }
    // Linear lr scaling: batch 128 gets twice the lr of batch 64.
    const lr = (b: number) => result.cells.find((c) => c.optimizer === 'sgd' && c.batch === b)!.lr;
    expect(lr(128)).toBeCloseTo(2 * lr(64), 10);
    const md = readFileSync(join(dir, 'results.md'), 'utf8');
    expect(md).toContain('| batch | sgd | fop |');
    expect(md).toContain('| 128 | fop |');
    for (const b of [64, 128]) expect(readFileSync(join(dir, `mlp-b${b}.svg`), 'utf8').startsWith('<svg')).toBe(true);
    expect(out.out.join('')).toContain('epochs / seconds to 20.00% test accuracy');

    const again = memoryOutput();
    expect(await main(['bench', 'study', '--preset', 'micro', '--backend', 'wasm', '--out', dir, '--json'], again)).toBe(0);
    // Finished cells are read back, not trained again (each trained cell logs its outcome).
    expect(again.err.join('')).not.toMatch(/target (at epoch|not reached)/);
    const rows = JSON.parse(again.out.join('')).rows;
    expect(rows).toEqual(result.rows);
  });

  it('takes medians over seeds with never-reached counted as infinite, and picks the fastest grid point', () => {
    const cells = [
      cell({ gridIndex: 0, seed: 1, epochsToTarget: 2, secondsToTarget: 10, bestAccuracy: 0.6 }),
      cell({ gridIndex: 0, seed: 2, epochsToTarget: 4, secondsToTarget: 20, bestAccuracy: 0.7 }),
      cell({ gridIndex: 1, seed: 1, epochsToTarget: 1, secondsToTarget: 5, bestAccuracy: 0.8 }),
      cell({ gridIndex: 1, seed: 2, bestAccuracy: 0.45, error: 'diverged' }),
      cell({ optimizer: 'sgd', damping: null, seed: 1, bestAccuracy: 0.3 }),
      cell({ optimizer: 'sgd', damping: null, seed: 2, bestAccuracy: 0.4 }),
    ];
    const rows = aggregate(cells);
    const g0 = rows.find((r) => r.optimizer === 'fop' && r.gridIndex === 0)!;
    expect(g0).toMatchObject({ reached: 2, failed: 0, epochsToTarget: 3, secondsToTarget: 15 });
    expect(g0.bestAccuracy).toBeCloseTo(0.65, 10);
    const g1 = rows.find((r) => r.optimizer === 'fop' && r.gridIndex === 1)!;
    expect(g1).toMatchObject({ reached: 1, failed: 1, epochsToTarget: null, secondsToTarget: null });
    const best = bestRows(rows);
    expect(best.find((r) => r.optimizer === 'fop')!.gridIndex).toBe(0);
    const md = studyMarkdown(rows, ['sgd', 'fop']);
    expect(md).toContain('| 64 | – | 3 / 15.0 |');
    expect(md).toContain('| 64 | sgd | 0.1 | – | 0/2 | – | – | 35.00% |');
  });

  it('gives every optimizer the same grid budget and scales lr linearly with the batch', () => {
    for (const preset of Object.values(STUDY_PRESETS)) {
      const cells = expandCells(preset, (m) => m.trainSize ?? 60000);
      for (const m of preset.models) {
        // Grid points per optimizer (a damping axis crosses them; it does not add lr points).
        const counts = preset.optimizers.map((o) => new Set(cells.filter((c) => c.model === m && c.optimizer === o).map((c) => c.gridIndex)).size);
        expect(new Set(counts).size).toBe(1);
      }
      expect(new Set(cells.map((c) => c.id)).size).toBe(cells.length);
    }
    const full = expandCells(STUDY_PRESETS.full, () => 60000);
    const fop = (b: number) => full.find((c) => c.optimizer === 'fop' && c.batch === b && c.gridIndex === 0 && c.seed === 1)!;
    expect(fop(4096).lr / fop(1024).lr).toBeCloseTo(4, 6);
    expect(fop(60000).inverseEvery).toBe(1);
    expect(fop(1024).inverseEvery).toBe(10);
  });
});
