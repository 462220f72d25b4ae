/**
 * The training worker: receives a run and its dataset, starts the backend, trains, and streams a
 * message per step and per evaluation. Training here rather than on the page's thread keeps the
 * page responsive on every backend: the cpu and wasm kernels, KFAC's statistics and the factor
 * inverses are synchronous JavaScript or wasm that hold the thread for tens to hundreds of
 * milliseconds per step, which would freeze the charts and the stop button.
 */
import { downsampleDataset } from '../data/downsample';
import { modelShape } from '../model';
import { type FromWorker, type ToWorker, errorInfo } from './protocol';
import { resolveRunConfig } from './run-config';
import { startBackend } from './start-backend';
import { TrainingRun } from './training-run';

const post = (message: FromWorker) => (self as unknown as Worker).postMessage(message);
let run: TrainingRun | undefined;
let stopRequested = false;

async function start(message: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const config = resolveRunConfig(message.config);
  const backend = await startBackend(config.backend, message.wasmPath);
  run = new TrainingRun(config, downsampleDataset(message.dataset, config.downsample));
  post({ type: 'backend', ...backend, shape: modelShape(run.model) });
  const outcome = await run.run(
    {
      step: (record, trace) => post({ type: 'step', record, trace }),
      evaluated: (record) => post({ type: 'eval', record }),
    },
    () => stopRequested,
  );
  post({ type: 'done', outcome });
}

self.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  const fail = (error: unknown) => post({ type: 'error', error: errorInfo(error) });
  switch (message.type) {
    case 'start':
      start(message).catch(fail);
      break;
    case 'probe':
      startBackend(message.backend, message.wasmPath)
        .then((b) => post({ type: 'backend', ...b }))
        .catch(fail);
      break;
    case 'stop':
      stopRequested = true;
      break;
    case 'save':
      if (run === undefined) fail(new Error('no model yet: start a run first'));
      else
        run
          .artifacts()
          .then((artifacts) => post({ type: 'model', artifacts }))
          .catch(fail);
      break;
  }
};
