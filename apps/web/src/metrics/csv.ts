/**
 * The metrics download: one CSV row per (run, step), long format so two runs of different
 * optimizers share one header; test metrics fill the rows of the steps after which they were
 * measured, and each diagnosed layer contributes four columns (layer.beta, layer.eta, layer.s,
 * layer.perpRatio). Missing or non-finite values are empty cells, which spreadsheets and pandas
 * read as missing rather than as the string "NaN".
 */
import { DIAGNOSTIC_KEYS, type RunRecord, diagnosticLayers } from './run-record';

function cell(value: unknown): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : '';
  const text = String(value);
  return /[",\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function metricsCsv(runs: readonly RunRecord[]): string {
  const layers: string[] = [];
  for (const run of runs) for (const name of diagnosticLayers(run)) if (!layers.includes(name)) layers.push(name);
  const header = ['run', 'optimizer', 'backend', 'dataset', 'seed', 'step', 'seconds', 'loss', 'grad_norm', 'skipped', 'test_loss', 'test_accuracy'];
  for (const name of layers) for (const key of DIAGNOSTIC_KEYS) header.push(`${name}.${key}`);
  const lines = [header.map(cell).join(',')];
  for (const run of runs) {
    // An evaluation after k steps belongs to the row of step k - 1 (the step that completed k).
    const evals = new Map(run.evals.map((e) => [e.step - 1, e]));
    for (const s of run.steps) {
      const e = evals.get(s.step);
      const row: unknown[] = [run.id, run.optimizer, run.backend, run.dataset, run.seed, s.step, s.seconds, s.loss, s.gradNorm, s.skipped ? 1 : 0, e?.testLoss, e?.testAccuracy];
      for (const name of layers) for (const key of DIAGNOSTIC_KEYS) row.push(s.diagnostics[name]?.[key]);
      lines.push(row.map(cell).join(','));
    }
  }
  return lines.join('\n') + '\n';
}
