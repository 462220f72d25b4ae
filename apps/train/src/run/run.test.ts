import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type EpochRecord, appendMetrics, firstReaching, readMetrics, writeMetricsCsv } from './metrics';
import { renderComparePlot, renderRunPlot, svgToPng } from './plot';
import { ProgressBar, formatDuration } from './progress';
import { createRunDir, readConfig, timestamp } from './run-dir';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-run-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const rec = (epoch: number, acc: number): EpochRecord => ({
  epoch,
  step: epoch * 10,
  trainLoss: 1 / epoch,
  testLoss: 1.1 / epoch,
  testAccuracy: acc,
  epochSeconds: 2,
  elapsedSeconds: 2 * epoch,
  samplesPerSecond: 500,
  lr: 0.1,
  time: '2025-01-01T00:00:00.000Z',
});

describe('run folder, metrics and plots', () => {
  it('creates unique, sortable run folders and rejects non-run folders', () => {
    const d = new Date(2025, 0, 31, 12, 5, 9);
    expect(timestamp(d)).toBe('2025-01-31T12-05-09');
    const a = createRunDir(tmp, 'mnist cnn/fop', d);
    const b = createRunDir(tmp, 'mnist cnn/fop', d);
    expect(a.dir.endsWith('2025-01-31T12-05-09-mnist-cnn-fop')).toBe(true);
    expect(b.dir.endsWith('-2')).toBe(true);
    expect(() => readConfig(a.dir)).toThrow(/not a natgrad run folder/);
  });

  it('round-trips metrics.jsonl, writes CSV and finds the first epoch reaching a target', () => {
    const file = join(tmp, 'm.jsonl');
    [rec(1, 0.5), rec(2, 0.8), rec(3, 0.9)].forEach((r) => {
      appendMetrics(file, r);
    });
    const back = readMetrics(file);
    expect(back.map((r) => r.testAccuracy)).toEqual([0.5, 0.8, 0.9]);
    expect(firstReaching(back, 0.75)).toEqual({ epoch: 2, seconds: 4 });
    expect(firstReaching(back, 0.95)).toBeNull();
    writeMetricsCsv(join(tmp, 'm.csv'), back);
    const csv = readFileSync(join(tmp, 'm.csv'), 'utf8').trim().split('\n');
    expect(csv[0]).toBe('epoch,step,trainLoss,testLoss,testAccuracy,epochSeconds,elapsedSeconds,samplesPerSecond,lr,time,skippedSteps,dampingBoosts,damping');
    expect(csv).toHaveLength(4);
  });

  it('renders valid SVG plots with vega-lite and a PNG with resvg', async () => {
    const svg = await renderRunPlot([rec(1, 0.5), rec(2, 0.8)], 'run');
    expect(svg.startsWith('<svg')).toBe(true);
    for (const label of ['train loss', 'test accuracy', 'training seconds', 'epoch']) expect(svg.includes(label), label).toBe(true);
    const cmp = await renderComparePlot([
      { name: 'fop', records: [rec(1, 0.5), rec(2, 0.8)] },
      { name: 'sgd', records: [rec(1, 0.4), rec(2, 0.6)] },
    ]);
    expect(cmp.startsWith('<svg') && cmp.includes('>fop<') && cmp.includes('>sgd<')).toBe(true);
    const png = await svgToPng(cmp, 1);
    expect(Array.from(png.subarray(1, 4))).toEqual([0x50, 0x4e, 0x47]);
  });

  it('redraws in place on a TTY and prints throttled lines otherwise', () => {
    const out: string[] = [];
    const u = { epoch: 1, epochs: 2, step: 5, steps: 10, loss: 0.5, samplesPerSecond: 100 };
    const tty = new ProgressBar({ isTTY: true, columns: 200, write: (s: string) => out.push(s) });
    tty.update(u, 65);
    expect(out[0].startsWith('\r')).toBe(true);
    expect(out[0]).toContain('5/10 loss 0.5000 100 samples/s ETA 1:05');
    tty.done();
    expect(out[1]).toBe('\n');
    let t = 0;
    const lines: string[] = [];
    const plain = new ProgressBar({ isTTY: false, write: (s: string) => lines.push(s) }, 1000, () => t);
    plain.update(u, 1);
    t = 500;
    plain.update({ ...u, step: 6 }, 1);
    plain.update({ ...u, step: 10 }, 0);
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.endsWith('\n') && !l.includes('\r'))).toBe(true);
    expect(formatDuration(3725)).toBe('1:02:05');
  });
});
