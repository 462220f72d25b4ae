/**
 * The page's side of a training worker: starts one, forwards its messages to handlers, and turns
 * its end (finished, stopped, or an error such as BACKEND_UNAVAILABLE) into a promise. The page and
 * the test hook both drive runs through this, so the tier exercises the page's own path.
 */
import type { io } from '@tensorflow/tfjs-core';
import type { ImageDataset } from './data/image-dataset';
import type { ModelShape, StepTrace } from './metrics/parity';
import type { EvalRecord, StepRecord } from './metrics/run-record';
import type { BackendAttemptInfo, ErrorInfo, FromWorker, ToWorker } from './worker/protocol';
import type { PageBackend, RunConfig } from './worker/run-config';

export interface RunHandlers {
  backend?(info: { name: string; reason: string; attempts: BackendAttemptInfo[]; shape?: ModelShape }): void;
  step?(record: StepRecord, trace?: StepTrace): void;
  evaluated?(record: EvalRecord): void;
}

/** An error the worker reported, with the NatgradError code kept. */
export class WorkerError extends Error {
  constructor(readonly code: string, message: string) {
    super(message);
    this.name = 'WorkerError';
  }
}

/** Where the wasm binaries are served (vite.config.ts copies them there). */
export function wasmPath(): string {
  return new URL('tfjs-wasm/', document.baseURI).href;
}

function newWorker(): Worker {
  return new Worker(new URL('./worker/train-worker.ts', import.meta.url), { type: 'module', name: 'natgrad-training' });
}

export class RunHandle {
  readonly done: Promise<'finished' | 'stopped'>;
  private readonly worker = newWorker();
  private savePending: ((a: io.ModelArtifacts) => void) | undefined;
  private saveFailed: ((e: Error) => void) | undefined;
  private ended = false;

  constructor(config: RunConfig, dataset: ImageDataset, handlers: RunHandlers) {
    this.done = new Promise((resolve, reject) => {
      this.worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const m = event.data;
        if (m.type === 'backend') handlers.backend?.(m);
        else if (m.type === 'step') handlers.step?.(m.record, m.trace);
        else if (m.type === 'eval') handlers.evaluated?.(m.record);
        else if (m.type === 'done') {
          this.ended = true;
          resolve(m.outcome);
        } else if (m.type === 'model') this.savePending?.(m.artifacts);
        else if (m.type === 'error') {
          const error = new WorkerError(m.error.code, m.error.message);
          if (this.savePending !== undefined) this.saveFailed?.(error);
          else {
            this.ended = true;
            reject(error);
          }
        }
      };
      this.worker.onerror = (event) => {
        this.ended = true;
        reject(new WorkerError('WORKER_FAILED', `the training worker failed to load or crashed: ${event.message || 'no message (see the browser console)'}`));
      };
    });
    this.post({ type: 'start', config, dataset, wasmPath: wasmPath() });
  }

  private post(message: ToWorker): void {
    this.worker.postMessage(message);
  }

  stop(): void {
    if (!this.ended) this.post({ type: 'stop' });
  }

  /** The trained model's artifacts (the worker keeps the model until terminate()). */
  save(): Promise<io.ModelArtifacts> {
    return new Promise((resolve, reject) => {
      this.savePending = (a) => {
        this.savePending = undefined;
        resolve(a);
      };
      this.saveFailed = (e) => {
        this.savePending = undefined;
        reject(e);
      };
      this.post({ type: 'save' });
    });
  }

  terminate(): void {
    this.worker.terminate();
  }
}

/** Starts a worker only to select `backend`, and reports what it got (or why not). */
export function probeBackend(backend: PageBackend): Promise<{ available: boolean; name: string; reason: string }> {
  const worker = newWorker();
  return new Promise<{ available: boolean; name: string; reason: string }>((resolve) => {
    worker.onmessage = (event: MessageEvent<FromWorker>) => {
      const m = event.data;
      if (m.type === 'backend') resolve({ available: true, name: m.name, reason: m.reason });
      else if (m.type === 'error') resolve({ available: false, name: backend, reason: (m.error as ErrorInfo).message });
    };
    worker.onerror = (event) => resolve({ available: false, name: backend, reason: `worker failed: ${event.message}` });
    worker.postMessage({ type: 'probe', backend, wasmPath: wasmPath() } satisfies ToWorker);
  }).finally(() => worker.terminate());
}
