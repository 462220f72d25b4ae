/**
 * What the page keeps of a training run: one record per step (loss, seconds since the start,
 * FOP's per-layer diagnostics) and one per test evaluation. The worker sends these, the charts
 * and the CSV read them; plain JSON so they cross postMessage and the test hook unchanged.
 */

/** FOP's per-layer numbers of one step (ProjectionDiagnostics of @natgrad/core). */
export interface LayerDiagnostics {
  /** Fisher-metric coefficient of g_diff on g_avg. */
  s?: number;
  /** β*, the mixing weight of g⊥. */
  beta?: number;
  /** η*, the per-layer step size. */
  eta?: number;
  /** ‖g⊥‖ / ‖g_avg‖. */
  perpRatio?: number;
}

export const DIAGNOSTIC_KEYS = ['beta', 'eta', 's', 'perpRatio'] as const;
export type DiagnosticKey = (typeof DIAGNOSTIC_KEYS)[number];
export const DIAGNOSTIC_LABELS: Readonly<Record<DiagnosticKey, string>> = {
  beta: 'β*',
  eta: 'η*',
  s: 's',
  perpRatio: '‖g⊥‖/‖g_avg‖',
};

export interface StepRecord {
  step: number;
  /** Seconds of training since the run started (evaluations excluded). */
  seconds: number;
  loss: number;
  gradNorm: number;
  skipped: boolean;
  diagnostics: Record<string, LayerDiagnostics>;
}

export interface EvalRecord {
  /** Steps taken when the evaluation ran. */
  step: number;
  seconds: number;
  testLoss: number;
  testAccuracy: number;
}

export interface RunRecord {
  /** 'A' or 'B' on the page. */
  id: string;
  optimizer: string;
  backend: string;
  dataset: string;
  seed: number;
  steps: StepRecord[];
  evals: EvalRecord[];
}

/** The layers that reported diagnostics in any step, in first-seen order. */
export function diagnosticLayers(run: Pick<RunRecord, 'steps'>): string[] {
  const seen = new Set<string>();
  for (const s of run.steps) for (const name of Object.keys(s.diagnostics)) seen.add(name);
  return [...seen];
}
