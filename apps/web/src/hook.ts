/**
 * window.__natgrad: the page's test hook, for the real-browser tier (scripts/web/e2e.mjs) and for
 * anyone scripting the page from the console. It runs training through the same worker and run
 * code as the form (run-client.ts), on the embedded MNIST digits, and returns plain JSON: the
 * backend it got and why, the model's shape, and per-step records and traces.
 */
import type { ImageDataset } from './data/image-dataset';
import { type ModelShape, type ParityCheck, type StepTrace, compareFirstSteps } from './metrics/parity';
import type { EvalRecord, RunRecord, StepRecord } from './metrics/run-record';
import { isElementwise, isOptimizerName } from './optimizers';
import { RunHandle, probeBackend } from './run-client';
import { PAGE_BACKENDS, type PageBackend, type RunConfig, resolveRunConfig } from './worker/run-config';

export interface HookRunResult {
  backend: string;
  reason: string;
  shape: ModelShape;
  steps: StepRecord[];
  traces: StepTrace[];
  evals: EvalRecord[];
}

export interface NatgradHook {
  /** Trains on the embedded digits through a worker; rejects with the worker's error (code kept). */
  run(config: Omit<Partial<RunConfig>, 'optimizer'> & { optimizer: string }): Promise<HookRunResult>;
  /** For each page backend: whether this browser offers it (selected by name), and why not. */
  offered(): Promise<{ name: PageBackend; available: boolean; reason: string }[]>;
  /** metrics/parity.ts' check of a run against a reference run of the same config. */
  compare(reference: HookRunResult, candidate: HookRunResult, batchSize: number, optimizer: string): ParityCheck[];
  /** The page's own runs (what the charts show). */
  runs(): RunRecord[];
}

export function installHook(page: { embeddedMnist(): Promise<ImageDataset>; runs(): RunRecord[] }): void {
  const hook: NatgradHook = {
    async run(partial) {
      const config = resolveRunConfig(partial);
      const dataset = await page.embeddedMnist();
      const result: HookRunResult = { backend: '', reason: '', shape: { fanInSum: 0, classes: 0, parameters: 0 }, steps: [], traces: [], evals: [] };
      const handle = new RunHandle(config, dataset, {
        backend: (b) => {
          result.backend = b.name;
          result.reason = b.reason;
          if (b.shape) result.shape = b.shape;
        },
        step: (r, t) => {
          result.steps.push(r);
          if (t) result.traces.push(t);
        },
        evaluated: (e) => result.evals.push(e),
      });
      try {
        await handle.done;
      } finally {
        handle.terminate();
      }
      return result;
    },
    async offered() {
      const out = [];
      for (const name of PAGE_BACKENDS) {
        const r = await probeBackend(name);
        out.push({ name, available: r.available && r.name === name, reason: r.reason });
      }
      return out;
    },
    compare(reference, candidate, batchSize, optimizer) {
      if (!isOptimizerName(optimizer)) throw new Error(`unknown optimizer ${optimizer}`);
      return compareFirstSteps(reference.traces, candidate.traces, reference.shape, batchSize, isElementwise(optimizer));
    },
    runs: page.runs,
  };
  (window as unknown as { __natgrad: NatgradHook }).__natgrad = hook;
}
