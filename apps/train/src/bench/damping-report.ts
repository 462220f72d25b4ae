/**
 * The tables and the plot of a study with a damping axis (preset `damping`, issue 14): the paper's
 * mechanism is that KFAC needs a high damping at very large batch and FOP does not, so the
 * question is read off per damping, at each method's tuned learning rate: steps (and seconds) to
 * the target, best accuracy, skipped steps, divergence and, for FOP, its mean beta* / eta*. The
 * plot puts damping on a log x axis with one line per method and batch; the curvature-free
 * baselines, which have no damping, are drawn as flat dashed lines across it.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { CellResult, StudyRow } from './study';

const CURVATURE_FREE = new Set(['sgd', 'adamw']);

/**
 * Per model, batch, optimizer and damping the row the study settled on: the one with the most
 * seeds (with tuneOnFirstSeed, the tuned grid point that the other seeds ran), then the fewest
 * steps to target, then the best accuracy.
 */
export function tunedRows(rows: StudyRow[]): StudyRow[] {
  const chosen = new Map<string, StudyRow>();
  for (const r of rows) {
    const key = `${r.model}|${r.batch}|${r.optimizer}|${r.damping}`;
    const cur = chosen.get(key);
    const better =
      cur === undefined ||
      r.seeds > cur.seeds ||
      (r.seeds === cur.seeds &&
        ((r.stepsToTarget !== null && (cur.stepsToTarget === null || r.stepsToTarget < cur.stepsToTarget)) ||
          (r.stepsToTarget === cur.stepsToTarget && r.bestAccuracy > cur.bestAccuracy)));
    if (better) chosen.set(key, r);
  }
  return [...chosen.values()];
}

const pct = (v: number) => `${(100 * v).toFixed(2)}%`;
const fixed = (v: number | null, digits: number) => (v === null ? '–' : v.toFixed(digits));
const byBatch = (a: StudyRow, b: StudyRow) => b.batch - a.batch;

/** One cell of the pivot: median steps / seconds to target, or '–' with the best accuracy. */
function pivotCell(r: StudyRow | undefined): string {
  if (r === undefined) return 'n/a';
  const reached = `${r.reached}/${r.seeds}`;
  if (r.stepsToTarget === null) return `– (${pct(r.bestAccuracy)}, ${reached}${r.diverged > 0 ? `, ${r.diverged} diverged` : ''})`;
  return `${r.stepsToTarget} / ${r.secondsToTarget!.toFixed(1)} s (${reached})`;
}

/** The damping tables of every model: a pivot (method x batch against damping) and the detail. */
export function dampingMarkdown(rows: StudyRow[], optimizers: string[]): string {
  const tuned = tunedRows(rows);
  const sections: string[] = [];
  for (const model of [...new Set(tuned.map((r) => r.model))]) {
    const mine = tuned.filter((r) => r.model === model);
    const dampings = [...new Set(mine.map((r) => r.damping).filter((d): d is number => d !== null))].sort((a, b) => a - b);
    const batches = [...new Set(mine.map((r) => r.batch))].sort((a, b) => b - a);
    const target = mine[0].target;
    const order = (r: StudyRow) => optimizers.indexOf(r.optimizer);
    const curvature = optimizers.filter((o) => !CURVATURE_FREE.has(o));
    const baselines = optimizers.filter((o) => CURVATURE_FREE.has(o));
    const pivot = [
      `### ${model}: steps / seconds to ${pct(target)} test accuracy by damping (median over seeds at the chosen lr; '–' = not reached: best accuracy, seeds reached)`,
      '',
      `| method, batch | ${dampings.map(String).join(' | ')} |`,
      `|---|${dampings.map(() => '---|').join('')}`,
      ...batches.flatMap((b) =>
        curvature.map((o) => `| ${o}, ${b} | ${dampings.map((d) => pivotCell(mine.find((r) => r.batch === b && r.optimizer === o && r.damping === d))).join(' | ')} |`),
      ),
      // A baseline has no damping: its one result repeated in every column, as the plot's flat line.
      ...batches.flatMap((b) =>
        baselines.map((o) => {
          const cell = pivotCell(mine.find((r) => r.batch === b && r.optimizer === o));
          return `| ${o}, ${b} (no damping) | ${dampings.map(() => cell).join(' | ')} |`;
        }),
      ),
    ];
    const detail = [
      '',
      '| batch | optimizer | damping | lr | seeds reached | steps to target | seconds to target | best acc | skipped steps | diverged | mean β* | mean η* |',
      '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...[...mine]
        .sort((a, b) => byBatch(a, b) || order(a) - order(b) || (a.damping ?? 0) - (b.damping ?? 0))
        .map(
          (r) =>
            `| ${r.batch} | ${r.optimizer} | ${r.damping ?? '–'} | ${r.lr} | ${r.reached}/${r.seeds} | ${r.stepsToTarget ?? '–'} | ${fixed(r.secondsToTarget, 1)} | ${pct(r.bestAccuracy)} | ${r.skippedSteps} | ${r.diverged}/${r.seeds} | ${fixed(r.fopBeta, 3)} | ${fixed(r.fopEta, 3)} |`,
        ),
    ];
    sections.push([...pivot, ...detail].join('\n'));
  }
  return sections.join('\n\n');
}

/** Every cell, one line each (the tuning seed's whole lr grid included), for the record. */
export function dampingCellsMarkdown(cells: CellResult[], optimizers: string[]): string {
  const sorted = [...cells].sort(
    (a, b) =>
      a.model.localeCompare(b.model) ||
      b.batch - a.batch ||
      optimizers.indexOf(a.optimizer) - optimizers.indexOf(b.optimizer) ||
      (a.damping ?? 0) - (b.damping ?? 0) ||
      a.gridIndex - b.gridIndex ||
      a.seed - b.seed,
  );
  return [
    '| model | batch | optimizer | damping | lr | seed | steps to target | seconds to target | best acc | final acc | skipped | diverged | mean β* | mean η* |',
    '|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|',
    ...sorted.map(
      (c) =>
        `| ${c.model} | ${c.batch} | ${c.optimizer} | ${c.damping ?? '–'} | ${c.lr} | ${c.seed} | ${c.stepsToTarget ?? '–'} | ${fixed(c.secondsToTarget, 1)} | ${pct(c.bestAccuracy)} | ${pct(c.finalAccuracy)} | ${c.skippedSteps ?? 0} | ${c.diverged ? 'yes' : 'no'} | ${fixed(c.fopBeta ?? null, 3)} | ${fixed(c.fopEta ?? null, 3)} |`,
    ),
  ].join('\n');
}

type HConcatPanel = Extract<vl.TopLevelSpec, { hconcat: unknown }>['hconcat'][number];

const DAMPING = 'damping';
const STEPS = 'steps to target';
const BEST = 'best test accuracy';

/**
 * SVG of one model: steps to target (left; a method that missed the target at a damping has no
 * point there) and best accuracy (right) against damping on a log axis, one line per method and
 * batch, medians over seeds at the tuned lr.
 */
export async function renderDampingPlot(rows: StudyRow[], model: string, title: string): Promise<string> {
  const mine = tunedRows(rows).filter((r) => r.model === model);
  const dampings = [...new Set(mine.map((r) => r.damping).filter((d): d is number => d !== null))].sort((a, b) => a - b);
  const values: Record<string, string | number | null>[] = mine.flatMap((r) => {
    const baseline = r.damping === null;
    const series = `${r.optimizer}, batch ${r.batch}${baseline ? ' (no damping)' : ''}`;
    // A baseline has no damping: drawn flat across the axis so it reads as a reference level.
    return (baseline ? dampings : [r.damping!]).map((d) => ({ series, baseline: baseline ? 'yes' : 'no', [DAMPING]: d, [STEPS]: r.stepsToTarget, [BEST]: r.bestAccuracy }));
  });
  const panel = (y: string, zero: boolean): HConcatPanel => ({
    width: 300,
    height: 220,
    transform: [{ filter: `datum['${y}'] !== null` }],
    mark: { type: 'line', point: true },
    encoding: {
      // The whole damping range on both panels, also where no method reached the target.
      x: { field: DAMPING, type: 'quantitative', scale: { type: 'log', domain: [dampings[0], dampings[dampings.length - 1]] }, axis: { values: dampings, format: '~e' } },
      y: { field: y, type: 'quantitative', scale: { zero } },
      // Shapes as well as colours: KFAC and FOP often land on the same point.
      color: { field: 'series', type: 'nominal', legend: { labelLimit: 320 } },
      shape: { field: 'series', type: 'nominal', legend: { labelLimit: 320 } },
      strokeDash: { field: 'baseline', type: 'nominal', legend: null },
    },
  });
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    background: 'white',
    hconcat: [panel(STEPS, true), panel(BEST, false)],
  };
  const view = new vega.View(vega.parse(vl.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
