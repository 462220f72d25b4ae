/**
 * Per-epoch metrics of a run and their two on-disk forms: metrics.jsonl (one JSON object per
 * epoch, appended as the run goes, so a crashed or resumed run keeps its history) and
 * metrics.csv (rewritten from the records, for spreadsheets and pandas).
 */
import { appendFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { NatgradError } from '@natgrad/core';

export interface EpochRecord {
  epoch: number;
  /** Optimisation steps completed so far (cumulative). */
  step: number;
  trainLoss: number;
  testLoss: number;
  testAccuracy: number;
  /** Training time of this epoch, excluding evaluation. */
  epochSeconds: number;
  /** Training seconds since the run started, summed over resumptions (evaluation excluded). */
  elapsedSeconds: number;
  samplesPerSecond: number;
  lr: number;
  time: string;
  /** Steps of this epoch skipped for a non-finite loss, gradient or update (absent before natgrad 0.1). */
  skippedSteps?: number;
  /** Times the damping was raised this epoch (each skipped step raises it, up to its cap). */
  dampingBoosts?: number;
  /** The damping after the epoch (null without a curvature estimator). */
  damping?: number | null;
}

export const METRIC_COLUMNS: (keyof EpochRecord)[] = [
  'epoch',
  'step',
  'trainLoss',
  'testLoss',
  'testAccuracy',
  'epochSeconds',
  'elapsedSeconds',
  'samplesPerSecond',
  'lr',
  'time',
  'skippedSteps',
  'dampingBoosts',
  'damping',
];

export function appendMetrics(file: string, record: EpochRecord): void {
  appendFileSync(file, `${JSON.stringify(record)}\n`);
}

/**
 * The records of metrics.jsonl. With `tornTail`, an unterminated last line that does not parse is
 * dropped: an append killed midway leaves exactly that, and a resume redoes that epoch anyway.
 */
export function readMetrics(file: string, options: { tornTail?: boolean } = {}): EpochRecord[] {
  if (!existsSync(file)) return [];
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  if (options.tornTail && lines.length > 0 && !text.endsWith('\n')) {
    try {
      JSON.parse(lines[lines.length - 1]);
    } catch {
      lines.pop();
    }
  }
  return lines.map((line, i) => {
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (cause) {
      throw new NatgradError('INVALID_ARGUMENT', `Corrupt metrics file ${file}.`, {
        expected: 'one JSON object per line',
        received: `line ${i + 1}: ${line.slice(0, 60)}`,
        fix: 'delete the broken line (an interrupted write leaves at most the last line incomplete)',
        cause,
      });
    }
    const r = rec as Partial<EpochRecord>;
    if (typeof r.epoch !== 'number' || typeof r.testAccuracy !== 'number' || typeof r.elapsedSeconds !== 'number') {
      throw new NatgradError('INVALID_ARGUMENT', `Unexpected record in ${file}.`, {
        expected: 'records with numeric epoch, testAccuracy and elapsedSeconds',
        received: `line ${i + 1}: ${line.slice(0, 60)}`,
        fix: 'point natgrad at a run folder written by natgrad train',
      });
    }
    return r as EpochRecord;
  });
}

export function writeMetricsCsv(file: string, records: EpochRecord[]): void {
  const rows = records.map((r) => METRIC_COLUMNS.map((c) => (r[c] === undefined ? '' : String(r[c]))).join(','));
  writeFileSync(file, `${METRIC_COLUMNS.join(',')}\n${rows.map((r) => `${r}\n`).join('')}`);
}

export interface TargetHit {
  epoch: number;
  seconds: number;
}

/** The first epoch whose test accuracy reaches target, or null. */
export function firstReaching(records: EpochRecord[], target: number): TargetHit | null {
  const hit = records.find((r) => r.testAccuracy >= target);
  return hit ? { epoch: hit.epoch, seconds: hit.elapsedSeconds } : null;
}
