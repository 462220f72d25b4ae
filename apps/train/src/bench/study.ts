/**
 * Runs a study (study-config.ts) cell by cell through `natgrad train` itself (trainCommand with
 * --json, so the study measures exactly what users run) and summarises it: results.json, a
 * markdown table per model and batch (for each optimizer the grid point with the best median time
 * to target, its epochs and seconds to target as medians over seeds, '–' when not reached, and
 * best accuracy), and one SVG per model x batch of test accuracy against epochs and seconds
 * (the app's compare plot). Resumable: a cell whose run folder holds summary.json is skipped, one
 * with a checkpoint is continued with --resume, anything else is started afresh.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { type Output, memoryOutput } from '../commands/output';
import { EXIT_DIVERGED, type TrainSummary, trainCommand } from '../commands/train';
import { type EpochRecord, firstReaching, readMetrics } from '../run/metrics';
import { renderComparePlot } from '../run/plot';
import { dampingCellsMarkdown, dampingMarkdown, renderDampingPlot } from './damping-report';
import { type StepCoefficients, probeFopCoefficients } from './fop-diagnostics-probe';
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
  /** Optimisation steps at the end of the first epoch that reached the target (resolution: one epoch). */
  stepsToTarget: number | null;
  secondsToTarget: number | null;
  bestAccuracy: number;
  finalAccuracy: number;
  trainingSeconds: number;
  /** Steps skipped for a non-finite loss, gradient or update, over the whole run. */
  skippedSteps: number;
  /** natgrad train stopped the run (every step of an epoch skipped, or a non-finite loss), or it failed. */
  diverged: boolean;
  /** FOP only: beta* and eta* averaged over curvature blocks, then over the run's steps (null otherwise). */
  fopBeta: number | null;
  fopEta: number | null;
  /** Steps the two means cover. */
  fopSteps: number;
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
  stepsToTarget: number | null;
  secondsToTarget: number | null;
  bestAccuracy: number;
  /** Skipped steps summed over seeds. */
  skippedSteps: number;
  /** Seeds whose run diverged (or failed). */
  diverged: number;
  /** Means over the seeds that recorded FOP coefficients (null when none did). */
  fopBeta: number | null;
  fopEta: number | null;
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

const COEFFICIENTS_FILE = 'fop-coefficients.jsonl';

/** The FOP coefficients a cell's probe appended, one line per step (none for other optimizers). */
function readCoefficients(cellDir: string): StepCoefficients[] {
  const file = join(cellDir, COEFFICIENTS_FILE);
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .flatMap((l) => {
      try {
        return [JSON.parse(l) as StepCoefficients];
      } catch {
        return []; // a line torn by a kill mid-append
      }
    });
}

export function cellResult(cell: StudyCell, records: EpochRecord[], summary: TrainSummary | null, wallSeconds: number, error: string | null, coefficients: StepCoefficients[] = []): CellResult {
  const accuracies = records.map((r) => r.testAccuracy);
  // From the records, not summary.targetReached: a resumed run keeps the target it started with,
  // and the preset's target is the one that counts.
  const hit = records.find((r) => r.testAccuracy >= cell.model.target);
  const reached = firstReaching(records, cell.model.target);
  const mean = (f: (c: StepCoefficients) => number) => (coefficients.length === 0 ? null : coefficients.reduce((s, c) => s + f(c), 0) / coefficients.length);
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
    epochsToTarget: reached?.epoch ?? null,
    stepsToTarget: hit?.step ?? null,
    secondsToTarget: reached?.seconds ?? null,
    bestAccuracy: summary?.bestAccuracy ?? (accuracies.length > 0 ? Math.max(...accuracies) : 0),
    finalAccuracy: summary?.finalAccuracy ?? accuracies[accuracies.length - 1] ?? 0,
    trainingSeconds: summary?.trainingSeconds ?? records[records.length - 1]?.elapsedSeconds ?? 0,
    skippedSteps: summary?.skippedSteps ?? records.reduce((s, r) => s + (r.skippedSteps ?? 0), 0),
    diverged: error !== null || summary?.status === 'diverged',
    fopBeta: mean((c) => c.beta),
    fopEta: mean((c) => c.eta),
    fopSteps: coefficients.length,
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
    // FOP's beta*/eta* are not in natgrad train's metrics: the probe appends them per step.
    const stopProbe = cell.optimizer === 'fop' ? probeFopCoefficients((c) => appendFileSync(join(cellDir, COEFFICIENTS_FILE), `${JSON.stringify(c)}\n`)) : () => {};
    try {
      code = await trainCommand(argv, out);
    } catch (error) {
      // A run that fails (e.g. a factor that is not positive definite at this lr/damping) is a
      // result of the study, not a reason to stop it: recorded as never reaching the target.
      const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
      const failedRun = runFolders(cellDir)[0];
      const records = failedRun === undefined ? [] : readMetrics(join(failedRun, 'metrics.jsonl'));
      const failed = cellResult(cell, records, null, (performance.now() - t0) / 1000, message, readCoefficients(cellDir));
      writeFileSync(done, `${JSON.stringify(failed)}\n`);
      log.stderr(`study: ${cell.id} failed: ${message}\n`);
      return failed;
    } finally {
      stopProbe();
    }
    const events = out.out.join('').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { event: string } & Partial<TrainSummary>);
    const end = events.find((e) => e.event === 'end');
    // A diverged run (exit 3) ends with an end event and summary.json like a finished one: a result.
    if ((code !== 0 && code !== EXIT_DIVERGED) || end === undefined || typeof end.runDir !== 'string') {
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
  const result = cellResult(cell, records, summary, wallSeconds, null, readCoefficients(cellDir));
  writeFileSync(done, `${JSON.stringify(result)}\n`);
  log.stderr(`study: ${cell.id} ${result.diverged ? 'diverged, ' : ''}${result.epochsToTarget === null ? 'target not reached' : `target at epoch ${result.epochsToTarget}`}, best ${(100 * result.bestAccuracy).toFixed(2)}%, ${wallSeconds.toFixed(1)} s\n`);
  return result;
}

const medianOf = (values: number[]) => quantile([...values].sort((a, b) => a - b), 0.5);
const finiteOrNull = (v: number) => (Number.isFinite(v) ? v : null);
function meanOrNull(values: (number | null)[]): number | null {
  const known = values.filter((v): v is number => v !== null);
  return known.length === 0 ? null : known.reduce((s, v) => s + v, 0) / known.length;
}

/**
 * With tuneOnFirstSeed: the grid point the tuning seed's cells of this cell's model, batch,
 * optimizer and damping did best with (fewest steps to target, then best accuracy), or null
 * when none of them has run.
 */
export function tunedGridIndex(results: CellResult[], cell: StudyCell, tuningSeed: number): number | null {
  const candidates = results.filter(
    (r) => r.seed === tuningSeed && r.model === cell.model.model && r.batch === cell.batch && r.optimizer === cell.optimizer && r.damping === cell.damping,
  );
  let best: CellResult | null = null;
  for (const r of candidates) {
    const better =
      best === null ||
      (r.stepsToTarget !== null && (best.stepsToTarget === null || r.stepsToTarget < best.stepsToTarget)) ||
      (r.stepsToTarget === best.stepsToTarget && r.bestAccuracy > best.bestAccuracy);
    if (better) best = r;
  }
  return best?.gridIndex ?? null;
}

/** Aggregates seeds: one row per model x batch x optimizer x grid point. */
export function aggregate(cells: CellResult[]): StudyRow[] {
  const groups = new Map<string, CellResult[]>();
  for (const c of cells) {
    const key = `${c.model}|${c.batch}|${c.optimizer}|${c.damping}|${c.gridIndex}`;
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
      stepsToTarget: finiteOrNull(medianOf(g.map((c) => c.stepsToTarget ?? Number.POSITIVE_INFINITY))),
      secondsToTarget: finiteOrNull(medianOf(g.map((c) => c.secondsToTarget ?? Number.POSITIVE_INFINITY))),
      bestAccuracy: medianOf(g.map((c) => c.bestAccuracy)),
      // Cells written before these fields existed (older study folders) count as 0 / no data.
      skippedSteps: g.reduce((s, c) => s + (c.skippedSteps ?? 0), 0),
      diverged: g.filter((c) => c.diverged === true || c.error !== null).length,
      fopBeta: meanOrNull(g.map((c) => c.fopBeta ?? null)),
      fopEta: meanOrNull(g.map((c) => c.fopEta ?? null)),
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
  const tuningSeed = preset.tuneOnFirstSeed === true ? preset.seeds[0] : null;
  for (const [i, cell] of cells.entries()) {
    if (tuningSeed !== null && cell.seed !== tuningSeed) {
      // The tuning seed's cells of this group come earlier in the run order (seed is the outer loop).
      const chosen = tunedGridIndex(results, cell, tuningSeed);
      if (chosen === null) {
        throw new NatgradError('INVALID_ARGUMENT', `Study preset ${preset.name}: no tuning result for ${cell.id}.`, {
          expected: `the seed-${tuningSeed} cells of its model, batch, optimizer and damping to run before it`,
          received: 'none',
          fix: 'list the tuning seed first in the preset (seeds[0])',
        });
      }
      if (chosen !== cell.gridIndex) continue;
    }
    log.stderr(`study: cell ${i + 1}/${cells.length} ${cell.id}\n`);
    results.push(await runCell(cell, join(outDir, 'cells', cell.id), opts, log));
  }
  const rows = aggregate(results);
  const damped = preset.dampings !== undefined || preset.models.some((m) => m.dampings !== undefined);
  const markdown = damped
    ? `${dampingMarkdown(rows, preset.optimizers)}\n\n### Every cell\n\n${dampingCellsMarkdown(results, preset.optimizers)}`
    : studyMarkdown(rows, preset.optimizers);
  writeFileSync(join(outDir, 'results.md'), `${markdown}\n`);
  const plots: string[] = [];
  if (damped) {
    for (const model of [...new Set(preset.models.map((m) => m.model))]) {
      const target = preset.models.find((m) => m.model === model)!.target;
      const svg = await renderDampingPlot(rows, model, `${preset.dataset} ${model}: steps to ${pct(target)} and best test accuracy against damping (chosen lr, median of seeds)`);
      const file = join(outDir, `${model}-damping.svg`);
      writeFileSync(file, svg);
      plots.push(file);
    }
  } else {
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
