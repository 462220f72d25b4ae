/**
 * Runs a study (study-config.ts) cell by cell through `natgrad train` itself (trainCommand with
 * --json, so the study measures exactly what users run) and summarises it: results.json, a
 * markdown table per model and batch (for each optimizer the grid point with the best median time
 * to target, its epochs and seconds to target as medians over seeds, '–' when not reached, and
 * best accuracy), and one SVG per model x batch of test accuracy against epochs and seconds
 * (the app's compare plot). Resumable: a cell whose run folder holds summary.json is skipped, one
 * with a checkpoint is continued with --resume, anything else is started afresh.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { type Output, memoryOutput } from '../commands/output';
import { type TrainSummary, trainCommand } from '../commands/train';
import { type EpochRecord, readMetrics } from '../run/metrics';
import { renderComparePlot } from '../run/plot';
import { quantile } from './step-bench';
import { type StudyCell, type StudyPreset, expandCells } from './study-config';

export interface StudyOptions {
  preset: StudyPreset;
  outDir: string;
  backend: string;
  dataDir: string | null;
  /** Training examples of the dataset (bounds subset sizes and the full batch). */
  trainCount: number;
}

export interface CellResult {
  id: string;
  model: string;
  batch: number;
  optimizer: string;
  gridIndex: number;
  lr: number;
  damping: number | null;
  seed: number;
  inverseEvery: number;
  target: number;
  epochsToTarget: number | null;
  secondsToTarget: number | null;
  bestAccuracy: number;
  finalAccuracy: number;
  trainingSeconds: number;
  /** Wall seconds of the cell's last invocation (data loading, evaluation, plots, checkpoints included). */
  wallSeconds: number;
  /** Why the run stopped early (it then counts as never reaching the target), or null. */
  error: string | null;
  records: EpochRecord[];
}

export interface StudyRow {
  model: string;
  batch: number;
  optimizer: string;
  gridIndex: number;
  lr: number;
  damping: number | null;
  target: number;
  seeds: number;
  reached: number;
  /** Seeds whose run failed with an error (see results.json for the messages). */
  failed: number;
  /** Medians over seeds, never-reached counted as +Infinity; null when that median is infinite. */
  epochsToTarget: number | null;
  secondsToTarget: number | null;
  bestAccuracy: number;
}

export interface StudyResult {
  preset: string;
  description: string;
  dataset: string;
  backend: string;
  cells: CellResult[];
  rows: StudyRow[];
  markdown: string;
  plots: string[];
  /** Sum of the cells' wall seconds (all invocations). */
  totalWallSeconds: number;
}

const CELL_FILE = 'cell.json';

function runFolders(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((d) => d.isDirectory())
    .map((d) => join(dir, d.name));
}

function cellResult(cell: StudyCell, records: EpochRecord[], summary: TrainSummary | null, wallSeconds: number, error: string | null): CellResult {
  const accuracies = records.map((r) => r.testAccuracy);
  return {
    id: cell.id,
    model: cell.model.model,
    batch: cell.batch,
    optimizer: cell.optimizer,
    gridIndex: cell.gridIndex,
    lr: cell.lr,
    damping: cell.damping,
    seed: cell.seed,
    inverseEvery: cell.inverseEvery,
    target: cell.model.target,
    epochsToTarget: summary?.targetReached?.epoch ?? null,
    secondsToTarget: summary?.targetReached?.seconds ?? null,
    bestAccuracy: summary?.bestAccuracy ?? (accuracies.length > 0 ? Math.max(...accuracies) : 0),
    finalAccuracy: summary?.finalAccuracy ?? accuracies[accuracies.length - 1] ?? 0,
    trainingSeconds: summary?.trainingSeconds ?? records[records.length - 1]?.elapsedSeconds ?? 0,
    wallSeconds,
    error,
    records,
  };
}

async function runCell(cell: StudyCell, cellDir: string, opts: StudyOptions, log: Output): Promise<CellResult> {
  const done = join(cellDir, CELL_FILE);
  if (existsSync(done)) return JSON.parse(readFileSync(done, 'utf8')) as CellResult;
  const t0 = performance.now();
  const runs = runFolders(cellDir);
  const resumable = runs.find((d) => existsSync(join(d, 'checkpoint', 'progress.json')) && !existsSync(join(d, 'summary.json')));
  const finished = runs.find((d) => existsSync(join(d, 'summary.json')));
  let runDir: string;
  if (finished) {
    runDir = finished;
  } else {
    // A folder without a checkpoint (stopped in its first epoch) holds nothing worth keeping.
    for (const d of runs) if (d !== resumable) rmSync(d, { recursive: true, force: true });
    const out = memoryOutput();
    const common = ['--backend', opts.backend, '--json'];
    const argv = resumable
      ? ['--resume', resumable, '--epochs', String(cell.model.epochs), ...common]
      : [...cell.argv, ...(opts.dataDir === null ? [] : ['--data-dir', opts.dataDir]), '--runs-dir', cellDir, ...common];
    let code: number;
    try {
      code = await trainCommand(argv, out);
    } catch (error) {
      // A run that fails (e.g. a factor that is not positive definite at this lr/damping) is a
      // result of the study, not a reason to stop it: recorded as never reaching the target.
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      const failedRun = runFolders(cellDir)[0];
      const records = failedRun === undefined ? [] : readMetrics(join(failedRun, 'metrics.jsonl'));
      const failed = cellResult(cell, records, null, (performance.now() - t0) / 1000, message);
      writeFileSync(done, `${JSON.stringify(failed)}\n`);
      log.stderr(`study: ${cell.id} failed: ${message}\n`);
      return failed;
    }
    const events = out.out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string } & Partial<TrainSummary>);
    const end = events.find((e) => e.event === 'end');
    if (code !== 0 || end === undefined || typeof end.runDir !== 'string') {
      throw new NatgradError('INVALID_ARGUMENT', `Study cell ${cell.id} failed.`, {
        expected: 'natgrad train to finish with an end event',
        received: `exit ${code}: ${out.err.join('').slice(-300)}`,
        fix: 'run the cell by hand (natgrad train with the flags in the error) and fix what it reports; then rerun the study, which resumes',
      });
    }
    runDir = end.runDir;
  }
  const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as TrainSummary;
  const records = readMetrics(join(runDir, 'metrics.jsonl'));
  const wallSeconds = (performance.now() - t0) / 1000;
  const result = cellResult(cell, records, summary, wallSeconds, null);
  writeFileSync(done, `${JSON.stringify(result)}\n`);
  log.stderr(`study: ${cell.id} ${result.epochsToTarget === null ? 'target not reached' : `target at epoch ${result.epochsToTarget}`}, best ${(100 * result.bestAccuracy).toFixed(2)}%, ${wallSeconds.toFixed(1)} s\n`);
  return result;
}

const medianOf = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);

/** Aggregates seeds: one row per model x batch x optimizer x grid point. */
export function aggregate(cells: CellResult[]): StudyRow[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const key = `${c.model}|${c.batch}|${c.optimizer}|${c.gridIndex}`;
    groups.set(key, [...(groups.get(key) ?? []), c]);
  }
  return [...groups.values()].map((g) => {
    const first = g[0];
    return {
      model: first.model,
      batch: first.batch,
      optimizer: first.optimizer,
      gridIndex: first.gridIndex,
      lr: first.lr,
      damping: first.damping,
      target: first.target,
      seeds: g.length,
      reached: g.filter((c) => c.epochsToTarget !== null).length,
      failed: g.filter((c) => c.error !== null).length,
      epochsToTarget: finiteOrNull(medianOf(g.map((c) => c.epochsToTarget ?? Number.POSITIVE_INFINITY))),
      secondsToTarget: finiteOrNull(medianOf(g.map((c) => c.secondsToTarget ?? Number.POSITIVE_INFINITY))),
      bestAccuracy: medianOf(g.map((c) => c.bestAccuracy)),
    };
  });
}

/** Per model x batch x optimizer, the grid point with the shortest median time to target, else the best accuracy. */
export function bestRows(rows: StudyRow[]): StudyRow[] {
  const best = new Map<string, StudyRow>();
  for (const r of rows) {
    const key = `${r.model}|${r.batch}|${r.optimizer}`;
    const cur = best.get(key);
    const better =
      cur === undefined ||
      (r.secondsToTarget !== null && (cur.secondsToTarget === null || r.secondsToTarget < cur.secondsToTarget)) ||
      (r.secondsToTarget === null && cur.secondsToTarget === null && r.bestAccuracy > cur.bestAccuracy);
    if (better) best.set(key, r);
  }
  return [...best.values()];
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;

export function studyMarkdown(rows: StudyRow[], optimizers: string[]): string {
  const best = bestRows(rows);
  const sections: string[] = [];
  for (const model of [...new Set(best.map((r) => r.model))]) {
    const mine = best.filter((r) => r.model === model);
    const batches = [...new Set(mine.map((r) => r.batch))].sort((a, b) => a - b);
    const target = mine[0].target;
    const find = (b: number, o: string) => mine.find((r) => r.batch === b && r.optimizer === o);
    const pivot = [
      `### ${model}: epochs / seconds to ${pct(target)} test accuracy (median over seeds, '–' = not reached)`,
      '',
      `| batch | ${optimizers.join(' | ')} |`,
      `|---:|${optimizers.map(() => '---|').join('')}`,
      ...batches.map((b) => `| ${b} | ${optimizers.map((o) => { const r = find(b, o); return r === undefined ? 'n/a' : r.epochsToTarget === null ? '–' : `${r.epochsToTarget} / ${r.secondsToTarget!.toFixed(1)}`; }).join(' | ')} |`),
    ];
    const detail = [
      '',
      '| batch | optimizer | lr | damping | seeds reached | epochs to target | seconds to target | best acc |',
      '|---:|---|---:|---:|---:|---:|---:|---:|',
      ...batches.flatMap((b) =>
        optimizers.map((o) => {
          const r = find(b, o);
          if (r === undefined) return `| ${b} | ${o} | n/a | | | | | |`;
          return `| ${b} | ${o} | ${r.lr} | ${r.damping ?? '–'} | ${r.reached}/${r.seeds}${r.failed > 0 ? ` (${r.failed} failed)` : ''} | ${r.epochsToTarget ?? '–'} | ${r.secondsToTarget === null ? '–' : r.secondsToTarget.toFixed(1)} | ${pct(r.bestAccuracy)} |`;
        }),
      ),
    ];
    sections.push([...pivot, ...detail].join('\n'));
  }
  return sections.join('\n\n');
}

export async function runStudy(opts: StudyOptions, log: Output): Promise<StudyResult> {
  const { preset } = opts;
  const cells = expandCells(preset, (m) => Math.min(m.trainSize ?? opts.trainCount, opts.trainCount));
  const outDir = resolve(opts.outDir);
  mkdirSync(join(outDir, 'cells'), { recursive: true });
  writeFileSync(join(outDir, 'preset.json'), `${JSON.stringify(preset, null, 2)}\n`);
  const results: CellResult[] = [];
  for (const [i, cell] of cells.entries()) {
    log.stderr(`study: cell ${i + 1}/${cells.length} ${cell.id}\n`);
    results.push(await runCell(cell, join(outDir, 'cells', cell.id), opts, log));
  }
  const rows = aggregate(results);
  const markdown = studyMarkdown(rows, preset.optimizers);
  writeFileSync(join(outDir, 'results.md'), `${markdown}\n`);
  const plots: string[] = [];
  const best = bestRows(rows);
  for (const m of preset.models) {
    for (const batch of m.batches) {
      const chosen = best.filter((r) => r.model === m.model && r.batch === batch);
      const runs = chosen.flatMap((r) =>
        results
          .filter((c) => c.model === r.model && c.batch === r.batch && c.optimizer === r.optimizer && c.gridIndex === r.gridIndex)
          .map((c) => ({ name: `${c.optimizer} s${c.seed}`, records: c.records })),
      );
      const svg = await renderComparePlot(runs, `${preset.dataset} ${m.model}, batch ${batch}: test accuracy (target ${pct(m.target)})`);
      const file = join(outDir, `${m.model}-b${batch}.svg`);
      writeFileSync(file, svg);
      plots.push(file);
    }
  }
  const result: StudyResult = {
    preset: preset.name,
    description: preset.description,
    dataset: preset.dataset,
    backend: opts.backend,
    cells: results,
    rows,
    markdown,
    plots,
    totalWallSeconds: results.reduce((s, c) => s + c.wallSeconds, 0),
  };
  writeFileSync(join(outDir, 'results.json'), `${JSON.stringify(result, null, 1)}\n`);
  return result;
}
