/**
 * The page: reads the form, loads the data (the embedded MNIST digits, or the IDX files the user
 * picked), starts one worker per optimizer on the same data and seed, and redraws the charts once
 * per animation frame while the workers stream their steps. Errors (a backend the browser lacks, a
 * wrong file) are shown with the NatgradError's expected / received / fix text. Also installs the
 * test hook (hook.ts) that the real-browser tier drives.
 */
import { chartSvg } from './charts/line-chart';
import type { ImageDataset } from './data/image-dataset';
import { assembleIdxDataset, decodeIdxFile } from './data/idx';
import { unpackMnist } from './data/mnist-unpack';
import { installHook } from './hook';
import { metricsCsv } from './metrics/csv';
import { DIAGNOSTIC_KEYS, DIAGNOSTIC_LABELS, type RunRecord, diagnosticLayers } from './metrics/run-record';
import { modelFiles } from './model-files';
import { OPTIMIZERS, OPTIMIZER_LABELS } from './optimizers';
import { RunHandle } from './run-client';
import { type RunConfig, resolveRunConfig } from './worker/run-config';

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const RUN_COLORS = { A: '#1f6fb4', B: '#e0701b' } as const;
const LAYER_COLORS = ['#1f6fb4', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2'];

interface PageRun {
  record: RunRecord;
  handle: RunHandle;
  backendReason?: string;
  state: 'starting' | 'training' | 'finished' | 'stopped' | 'failed';
}

let runs: PageRun[] = [];
let embedded: Promise<ImageDataset> | undefined;

/** Fetches and unpacks the embedded digits once (7.9 MB, cached by the browser after). */
export function embeddedMnist(): Promise<ImageDataset> {
  embedded ??= (async () => {
    const response = await fetch(new URL('data/mnist-digits.bin', document.baseURI));
    if (!response.ok) throw new Error(`data/mnist-digits.bin: HTTP ${response.status} (is the page served by vite or from apps/web/dist?)`);
    return unpackMnist(new Uint8Array(await response.arrayBuffer()));
  })();
  embedded.catch(() => {
    embedded = undefined;
  });
  return embedded;
}

async function pickedDataset(): Promise<ImageDataset> {
  const files = Array.from($<HTMLInputElement>('idx-files').files ?? []);
  const decoded = await Promise.all(files.map(async (f) => ({ name: f.name, idx: await decodeIdxFile(new Uint8Array(await f.arrayBuffer()), f.name) })));
  return assembleIdxDataset(decoded, files.some((f) => /fashion/i.test(f.name)) ? 'fashion-mnist' : 'idx');
}

function showMessage(kind: 'error' | 'info', text: string): void {
  const div = document.createElement('div');
  div.className = kind;
  div.textContent = text;
  $('messages').append(div);
}

/** A NatgradError's message already carries expected / received / fix lines. */
function describeError(error: unknown): string {
  const e = error as { code?: string; message?: string };
  return e?.code !== undefined ? `${e.code}: ${e.message}` : String(e?.message ?? error);
}

function formConfig(id: 'A' | 'B', optimizer: string): RunConfig {
  const lr = $<HTMLInputElement>('lr').value.trim();
  const damping = $<HTMLInputElement>('damping').value.trim();
  return resolveRunConfig({
    id,
    optimizer,
    backend: $<HTMLSelectElement>('backend').value as RunConfig['backend'],
    steps: Number($<HTMLInputElement>('steps').value),
    batchSize: Number($<HTMLInputElement>('batch').value),
    seed: Number($<HTMLInputElement>('seed').value),
    evalEvery: Number($<HTMLInputElement>('eval-every').value),
    downsample: Number($<HTMLSelectElement>('downsample').value),
    learningRate: lr === '' ? undefined : Number(lr),
    damping: damping === '' ? undefined : Number(damping),
  });
}

function startRun(config: RunConfig, dataset: ImageDataset): PageRun {
  const record: RunRecord = { id: config.id, optimizer: config.optimizer, backend: '…', dataset: dataset.name, seed: config.seed, steps: [], evals: [] };
  const run: PageRun = { record, state: 'starting', handle: undefined as unknown as RunHandle };
  run.handle = new RunHandle(config, dataset, {
    backend: (b) => {
      record.backend = b.name;
      run.backendReason = `${b.reason}${config.backend === 'auto' ? `  [tried: ${b.attempts.map((a) => `${a.name}: ${a.available ? 'ok' : a.reason}`).join('; ')}]` : ''}`;
      run.state = 'training';
      redraw();
    },
    step: (r) => {
      record.steps.push(r);
      redraw();
    },
    evaluated: (e) => {
      record.evals.push(e);
      redraw();
    },
  });
  run.handle.done.then(
    (outcome) => {
      run.state = outcome;
      redraw();
    },
    (error) => {
      run.state = 'failed';
      showMessage('error', `Run ${config.id} (${config.optimizer}): ${describeError(error)}`);
      redraw();
    },
  );
  return run;
}

async function start(event: Event): Promise<void> {
  event.preventDefault();
  $('messages').replaceChildren();
  for (const r of runs) r.handle.terminate();
  runs = [];
  let configs: RunConfig[];
  let dataset: ImageDataset;
  try {
    const b = $<HTMLSelectElement>('optimizer-b').value;
    configs = [formConfig('A', $<HTMLSelectElement>('optimizer-a').value), ...(b === 'none' ? [] : [formConfig('B', b)])];
    const useFiles = (document.querySelector('input[name=dataset]:checked') as HTMLInputElement).value === 'files';
    showMessage('info', useFiles ? 'Reading the IDX files…' : 'Loading the embedded MNIST digits…');
    dataset = useFiles ? await pickedDataset() : await embeddedMnist();
  } catch (error) {
    $('messages').replaceChildren();
    showMessage('error', describeError(error));
    return;
  }
  $('messages').replaceChildren();
  showMessage('info', `${dataset.train.count} training and ${dataset.test.count} test images from ${dataset.source}.`);
  setRunning(true);
  if ($<HTMLInputElement>('sequential').checked) {
    for (const c of configs) {
      const run = startRun(c, dataset);
      runs.push(run);
      await run.handle.done.catch(() => undefined);
      if (stopAll) break;
    }
  } else {
    runs = configs.map((c) => startRun(c, dataset));
    await Promise.allSettled(runs.map((r) => r.handle.done));
  }
  setRunning(false);
}

let stopAll = false;
function setRunning(running: boolean): void {
  stopAll = false;
  $<HTMLButtonElement>('start').disabled = running;
  $<HTMLButtonElement>('stop').disabled = !running;
  $<HTMLButtonElement>('download-csv').disabled = runs.length === 0;
  $<HTMLButtonElement>('download-a').disabled = running || !runs.some((r) => r.record.id === 'A' && r.record.steps.length > 0);
  $<HTMLButtonElement>('download-b').disabled = running || !runs.some((r) => r.record.id === 'B' && r.record.steps.length > 0);
}

function download(name: string, data: BlobPart, type: string): void {
  const url = URL.createObjectURL(new Blob([data], { type }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function downloadModel(id: 'A' | 'B'): Promise<void> {
  const run = runs.find((r) => r.record.id === id);
  if (run === undefined) return;
  try {
    const files = modelFiles(await run.handle.save(), `natgrad-${run.record.optimizer}-${run.record.dataset}`);
    download(files.jsonName, files.json, 'application/json');
    download(files.weightsName, files.weights, 'application/octet-stream');
  } catch (error) {
    showMessage('error', `Model ${id}: ${describeError(error)}`);
  }
}

// Redraw at most every REDRAW_MS, in an animation frame: a redraw rebuilds 8 SVG charts (tens of
// ms on a loaded CPU), and steps arrive every few ms on fast backends; once per frame kept the
// page's thread busy most of the time (long tasks of 50-250 ms measured under load).
const REDRAW_MS = 250;
let scheduled = false;
let lastDraw = 0;
function redraw(): void {
  if (scheduled) return;
  scheduled = true;
  setTimeout(() => requestAnimationFrame(draw), Math.max(0, lastDraw + REDRAW_MS - performance.now()));
}

function draw(): void {
  scheduled = false;
  lastDraw = performance.now();
  const records = runs.map((r) => r.record);
  const series = (pick: (r: RunRecord) => { x: number; y: number }[]) =>
    records.map((r) => ({ label: `${r.id} ${r.optimizer}`, color: RUN_COLORS[r.id as 'A' | 'B'] ?? '#444', points: pick(r) }));
  $('charts').innerHTML = [
    chartSvg({ title: 'training loss', xLabel: 'step', logY: true, series: series((r) => r.steps.map((s) => ({ x: s.step + 1, y: s.loss }))) }),
    chartSvg({ title: 'training loss', xLabel: 'seconds', logY: true, series: series((r) => r.steps.map((s) => ({ x: s.seconds, y: s.loss }))) }),
    chartSvg({ title: 'test accuracy', xLabel: 'step', series: series((r) => r.evals.map((e) => ({ x: e.step, y: e.testAccuracy }))) }),
    chartSvg({ title: 'test accuracy', xLabel: 'seconds', series: series((r) => r.evals.map((e) => ({ x: e.seconds, y: e.testAccuracy }))) }),
  ].join('');
  const fopRuns = records.filter((r) => diagnosticLayers(r).length > 0);
  $('diagnostics').innerHTML = fopRuns.length === 0
    ? '<p class="note">No FOP run yet: pick fop or diagonal-fop for run A or B.</p>'
    : DIAGNOSTIC_KEYS.map((key) =>
        chartSvg({
          title: `${DIAGNOSTIC_LABELS[key]} per layer`,
          xLabel: 'step',
          series: fopRuns.flatMap((r, i) =>
            diagnosticLayers(r).map((layer, j) => ({
              label: fopRuns.length > 1 ? `${r.id} ${layer}` : layer,
              color: LAYER_COLORS[j % LAYER_COLORS.length],
              dashed: i > 0,
              points: r.steps.map((s) => ({ x: s.step + 1, y: s.diagnostics[layer]?.[key] ?? Number.NaN })),
            })),
          ),
        }),
      ).join('');
  $('status').innerHTML = '';
  for (const run of runs) {
    const r = run.record;
    const last = r.steps.at(-1);
    const test = r.evals.at(-1);
    const div = document.createElement('div');
    div.className = 'run';
    div.style.setProperty('--c', RUN_COLORS[r.id as 'A' | 'B'] ?? '#444');
    const rate = last !== undefined && last.seconds > 0 ? ` · ${(r.steps.length / last.seconds).toFixed(1)} steps/s` : '';
    div.innerHTML = `<b>${r.id}: ${OPTIMIZER_LABELS[r.optimizer as keyof typeof OPTIMIZER_LABELS] ?? r.optimizer}</b> on <b>${r.backend}</b> — ${run.state}, step ${r.steps.length}${last ? `, loss ${last.loss.toFixed(4)}` : ''}${test ? `, test accuracy ${(100 * test.testAccuracy).toFixed(1)}%` : ''}${rate}<div class="reason"></div>`;
    (div.querySelector('.reason') as HTMLElement).textContent = run.backendReason ?? '';
    $('status').append(div);
  }
  if (runs.length > 0) $<HTMLButtonElement>('download-csv').disabled = false;
}

function init(): void {
  const a = $<HTMLSelectElement>('optimizer-a');
  const b = $<HTMLSelectElement>('optimizer-b');
  for (const name of OPTIMIZERS) {
    a.add(new Option(`${name} — ${OPTIMIZER_LABELS[name]}`, name, name === 'fop', name === 'fop'));
    b.add(new Option(`${name} — ${OPTIMIZER_LABELS[name]}`, name, name === 'sgd', name === 'sgd'));
  }
  b.add(new Option('none', 'none'));
  $('controls').addEventListener('submit', (e) => void start(e));
  $('stop').addEventListener('click', () => {
    stopAll = true;
    for (const r of runs) r.handle.stop();
  });
  $('download-csv').addEventListener('click', () => download('natgrad-metrics.csv', metricsCsv(runs.map((r) => r.record)), 'text/csv'));
  $('download-a').addEventListener('click', () => void downloadModel('A'));
  $('download-b').addEventListener('click', () => void downloadModel('B'));
  $('idx-files').addEventListener('change', () => {
    (document.querySelector('input[name=dataset][value=files]') as HTMLInputElement).checked = true;
  });
  draw();
  installHook({ embeddedMnist, runs: () => runs.map((r) => r.record) });
}

init();
