/**
 * `natgrad compare <run-dir>...`: one chart of test accuracy against epochs and training seconds
 * for several runs (SVG, plus PNG when the resvg binding loads) and a markdown table of final and
 * best accuracy and of the epochs and seconds each run needed to reach the target accuracy.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { FlagError, type FlagProblem } from '../flags/flag-error';
import { parseCommandArgs } from '../flags/parse-args';
import { type EpochRecord, firstReaching, readMetrics } from '../run/metrics';
import { type NamedRun, renderComparePlot, svgToPng } from '../run/plot';
import { readConfig, runPaths, timestamp } from '../run/run-dir';
import { PRESETS, type TrainConfig } from '../flags/train-flags';
import type { Output } from './output';

export interface CompareRow {
  run: string;
  dir: string;
  optimizer: string;
  batch: number;
  epochs: number;
  finalAccuracy: number;
  bestAccuracy: number;
  target: number | null;
  epochsToTarget: number | null;
  secondsToTarget: number | null;
}

export interface CompareResult {
  rows: CompareRow[];
  markdown: string;
  svg: string;
  png: string | null;
  outDir: string;
}

export const COMPARE_HELP = `Usage: natgrad compare <run-dir>... [--target 0.97] [--out <dir>] [--json]

Plots test accuracy of the runs against epochs and training seconds (compare.svg, compare.png) and
writes a markdown table (compare.md, also printed) of final/best accuracy and time to target.
  --target  accuracy in (0, 1] (default: each run's --target-accuracy)
  --out     output folder (default runs/compare-<timestamp>)
  --json    print the rows as JSON instead of markdown
`;

interface LoadedRun {
  dir: string;
  config: TrainConfig;
  records: EpochRecord[];
}

function loadRun(dir: string): LoadedRun {
  const { config } = readConfig(dir);
  const records = readMetrics(runPaths(dir).metrics);
  if (records.length === 0) {
    throw new NatgradError('INVALID_ARGUMENT', `Run ${dir} has no finished epoch yet.`, {
      expected: 'metrics.jsonl with at least one epoch',
      received: 'no records',
      fix: 'wait for the first epoch to finish, or leave this run out',
    });
  }
  return { dir: resolve(dir), config, records };
}

/** The preset name, plus the swapped components when --curvature/--projection changed them. */
export function describeOptimizer(c: TrainConfig): string {
  const p = PRESETS[c.optimizer];
  return p.curvature === c.curvature && p.projection === c.projection ? c.optimizer : `${c.optimizer} (${c.curvature}+${c.projection})`;
}

const pct = (v: number | null) => (v === null ? '-' : `${(100 * v).toFixed(2)}%`);

export function compareTable(rows: CompareRow[]): string {
  const header = '| run | optimizer | batch | epochs | final acc | best acc | target | epochs to target | seconds to target |';
  const sep = '|---|---|---:|---:|---:|---:|---:|---:|---:|';
  const lines = rows.map(
    (r) =>
      `| ${r.run} | ${r.optimizer} | ${r.batch} | ${r.epochs} | ${pct(r.finalAccuracy)} | ${pct(r.bestAccuracy)} | ${pct(r.target)} | ${r.epochsToTarget ?? '-'} | ${r.secondsToTarget === null ? '-' : r.secondsToTarget.toFixed(1)} |`,
  );
  return [header, sep, ...lines].join('\n');
}

export async function compareRuns(dirs: string[], opts: { target?: number; outDir: string }): Promise<CompareResult> {
  const runs = dirs.map(loadRun);
  const names = runs.map((r) => r.config.name);
  const labels = runs.map((r, i) => (names.indexOf(names[i]) !== names.lastIndexOf(names[i]) ? basename(r.dir) : names[i]));
  const rows: CompareRow[] = runs.map((r, i) => {
    const target = opts.target ?? r.config.targetAccuracy ?? null;
    const hit = target === null ? null : firstReaching(r.records, target);
    const last = r.records[r.records.length - 1];
    return {
      run: labels[i],
      dir: r.dir,
      optimizer: describeOptimizer(r.config),
      batch: r.config.batch,
      epochs: last.epoch,
      finalAccuracy: last.testAccuracy,
      bestAccuracy: Math.max(...r.records.map((x) => x.testAccuracy)),
      target,
      epochsToTarget: hit?.epoch ?? null,
      secondsToTarget: hit?.seconds ?? null,
    };
  });
  const named: NamedRun[] = runs.map((r, i) => ({ name: labels[i], records: r.records }));
  const svg = await renderComparePlot(named);
  mkdirSync(opts.outDir, { recursive: true });
  writeFileSync(join(opts.outDir, 'compare.svg'), svg);
  let png: string | null = null;
  try {
    const bytes = await svgToPng(svg);
    png = join(opts.outDir, 'compare.png');
    writeFileSync(png, bytes);
  } catch {
    // PNG is a convenience; the SVG is the result. A missing resvg binding (e.g. in a bundle) skips it.
  }
  const markdown = compareTable(rows);
  writeFileSync(join(opts.outDir, 'compare.md'), `${markdown}\n`);
  return { rows, markdown, svg, png, outDir: resolve(opts.outDir) };
}

export async function compareCommand(argv: string[], out: Output): Promise<number> {
  const parsed = parseCommandArgs('compare', argv, { target: { type: 'string' }, out: { type: 'string' }, json: { type: 'boolean' } }, true);
  if (parsed.values.help) {
    out.stdout(COMPARE_HELP);
    return 0;
  }
  const problems: FlagProblem[] = [];
  let target: number | undefined;
  if (typeof parsed.values.target === 'string') {
    target = Number(parsed.values.target);
    if (!(target > 0 && target <= 1)) {
      problems.push({
        flag: 'target',
        message: `"${parsed.values.target}" is not a number > 0 and <= 1 (e.g. 0.97)`,
        expected: '--target a number > 0 and <= 1',
        received: `--target ${JSON.stringify(parsed.values.target)}`,
        fix: 'pass the accuracy as a fraction, e.g. --target 0.97',
      });
    }
  }
  if (parsed.positionals.length === 0) {
    problems.push({
      flag: 'run-dir',
      positional: true,
      message: 'missing: give at least one run folder, e.g. natgrad compare runs/*',
      expected: 'one or more run folders written by natgrad train (natgrad compare <run-dir>...)',
      received: 'no run folder',
      fix: 'list the run folders after compare, e.g. natgrad compare runs/*',
    });
  }
  if (problems.length > 0) throw new FlagError('compare', problems);
  const outDir = typeof parsed.values.out === 'string' ? parsed.values.out : join('runs', `compare-${timestamp()}`);
  const result = await compareRuns(parsed.positionals, { target, outDir });
  if (parsed.values.json) {
    out.stdout(`${JSON.stringify({ event: 'compare', rows: result.rows, svg: join(result.outDir, 'compare.svg'), png: result.png })}\n`);
  } else {
    out.stdout(`${result.markdown}\n\nwrote ${join(result.outDir, 'compare.svg')}${result.png ? ` and ${result.png}` : ''}\n`);
  }
  return 0;
}
