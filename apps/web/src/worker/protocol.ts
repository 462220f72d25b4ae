/**
 * The messages between the page and a training worker. One worker trains one run on its own tfjs
 * instance (its own backend), so two runs side by side never share a tfjs engine or a WebGL context.
 */
import type { io } from '@tensorflow/tfjs-core';
import type { ImageDataset } from '../data/image-dataset';
import type { StepTrace } from '../metrics/parity';
import type { EvalRecord, StepRecord } from '../metrics/run-record';
import type { ModelShape } from '../metrics/parity';
import type { PageBackend, RunConfig } from './run-config';

export interface BackendAttemptInfo {
  name: string;
  available: boolean;
  reason: string;
}

export type ToWorker =
  | { type: 'start'; config: RunConfig; dataset: ImageDataset; wasmPath: string }
  /** Only selects the backend and reports it (the hook's list of offered backends). */
  | { type: 'probe'; backend: PageBackend; wasmPath: string }
  | { type: 'stop' }
  | { type: 'save' };

/** A NatgradError (or any error) flattened for postMessage. */
export interface ErrorInfo {
  code: string;
  message: string;
}

export type FromWorker =
  | { type: 'backend'; name: string; reason: string; attempts: BackendAttemptInfo[]; shape?: ModelShape }
  | { type: 'step'; record: StepRecord; trace?: StepTrace }
  | { type: 'eval'; record: EvalRecord }
  | { type: 'done'; outcome: 'finished' | 'stopped' }
  | { type: 'model'; artifacts: io.ModelArtifacts }
  | { type: 'error'; error: ErrorInfo };

export function errorInfo(error: unknown): ErrorInfo {
  const e = error as { code?: unknown; message?: unknown };
  return { code: typeof e?.code === 'string' ? e.code : 'ERROR', message: typeof e?.message === 'string' ? e.message : String(error) };
}
