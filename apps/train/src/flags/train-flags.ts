/**
 * The flags of `natgrad train`: one schema (name, kind, allowed values, default, help) from which
 * parsing, validation and --help are all derived. Validation reports every bad flag at once and
 * names the allowed values. `--optimizer` picks a preset; `--curvature` and `--projection` then
 * swap a single component of it (e.g. `--optimizer fop --curvature diagonal` is diagonal-FOP).
 */
import { DATASETS, DATASET_SHAPES, type DatasetName } from '../data/load';
import { MODELS, type ModelName } from '../models/index';
import { checkTrainingMemory } from '../models/memory';
import { FlagError, type FlagProblem } from './flag-error';
import { type OptionTypes, parseCommandArgs } from './parse-args';
import { checkInputDir, checkOutputDir } from './paths';
import { nearest } from './suggest';

export const OPTIMIZERS = ['sgd', 'adamw', 'kfac', 'fop', 'diagonal', 'diagonal-fop'] as const;
export const CURVATURES = ['kfac', 'diagonal', 'none'] as const;
export const PROJECTIONS = ['fop', 'average', 'identity'] as const;
export const LR_SCHEDULES = ['constant', 'cosine', 'step', 'exponential'] as const;
export const DAMPING_SCHEDULES = ['constant', 'levenberg-marquardt', 'exponential'] as const;
export const FISHER_TYPES = ['sampled', 'empirical'] as const;
export const STATISTICS_WORKER_MODES = ['auto', 'on', 'off'] as const;
export const BACKENDS = ['auto', 'webgpu', 'tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'] as const;
/** How the process joins a distributed job: auto (MPI when started by mpirun/mpiexec/srun), mpi, off. */
export const DISTRIBUTED_MODES = ['auto', 'mpi', 'off'] as const;

export type OptimizerName = (typeof OPTIMIZERS)[number];
export type CurvatureName = (typeof CURVATURES)[number];
export type ProjectionName = (typeof PROJECTIONS)[number];
export type BackendName = (typeof BACKENDS)[number];
export type DistributedMode = (typeof DISTRIBUTED_MODES)[number];

/** Everything a training run depends on; written verbatim to the run folder's config.json. */
export interface TrainConfig {
  dataset: DatasetName;
  dataDir: string | null;
  model: ModelName;
  /** Width multiplier of the model (mlp: hidden units of the first layer); null: the model's default. */
  width: number | null;
  optimizer: OptimizerName;
  curvature: CurvatureName;
  projection: ProjectionName;
  batch: number;
  epochs: number;
  lr: number;
  lrSchedule: (typeof LR_SCHEDULES)[number];
  warmup: number;
  momentum: number;
  weightDecay: number;
  damping: number;
  dampingSchedule: (typeof DAMPING_SCHEDULES)[number];
  fisher: (typeof FISHER_TYPES)[number];
  factorEvery: number;
  inverseEvery: number;
  /** KFAC statistics on a worker thread (bit-identical); absent in configs written before it existed. */
  statisticsWorker?: (typeof STATISTICS_WORKER_MODES)[number];
  seed: number;
  backend: BackendName;
  targetAccuracy: number | null;
  trainSize: number | null;
  testSize: number | null;
  name: string;
  runsDir: string;
}

export interface TrainInvocation {
  config: TrainConfig;
  /** The run folder to continue, when --resume was given. */
  resume: string | null;
  json: boolean;
  help: boolean;
  /** --distributed: how this process joins a job of several ranks (not part of the run's config). */
  distributed: DistributedMode;
  /** Flags the user actually passed (a resumed run may only change some of them). */
  explicit: Set<string>;
}

type Kind =
  | { type: 'enum'; values: readonly string[] }
  | { type: 'int'; min: number }
  | { type: 'number'; min: number; max?: number; minExclusive?: boolean; maxExclusive?: boolean }
  | { type: 'string' }
  | { type: 'boolean' };

interface FlagSpec {
  kind: Kind;
  help: string;
  key: keyof TrainConfig | 'resume' | 'json' | 'help' | 'distributed';
}

/**
 * Per-optimizer components and hyper-parameters used when the flag is not given. The natural-
 * gradient defaults (lr 0.01, 0.001 for the diagonal Fisher whose 1/D scaling is steeper; damping
 * 1e-2) were picked on the embedded MNIST with the small CNN: lr 0.05 diverged and damping 1e-3
 * made a float32 factor Cholesky fail within two steps.
 */
export const PRESETS: Record<OptimizerName, { curvature: CurvatureName; projection: ProjectionName; lr: number; momentum: number; weightDecay: number; damping: number }> = {
  sgd: { curvature: 'none', projection: 'identity', lr: 0.05, momentum: 0.9, weightDecay: 5e-4, damping: 0 },
  adamw: { curvature: 'none', projection: 'identity', lr: 1e-3, momentum: 0.9, weightDecay: 1e-2, damping: 0 },
  kfac: { curvature: 'kfac', projection: 'identity', lr: 0.01, momentum: 0.9, weightDecay: 5e-4, damping: 1e-2 },
  fop: { curvature: 'kfac', projection: 'fop', lr: 0.01, momentum: 0.9, weightDecay: 5e-4, damping: 1e-2 },
  diagonal: { curvature: 'diagonal', projection: 'identity', lr: 0.001, momentum: 0.9, weightDecay: 5e-4, damping: 1e-2 },
  'diagonal-fop': { curvature: 'diagonal', projection: 'fop', lr: 0.001, momentum: 0.9, weightDecay: 5e-4, damping: 1e-2 },
};

export const TRAIN_FLAGS: Record<string, FlagSpec> = {
  dataset: { key: 'dataset', kind: { type: 'enum', values: DATASETS }, help: 'dataset (default mnist: the embedded digits)' },
  'data-dir': { key: 'dataDir', kind: { type: 'string' }, help: 'folder holding the dataset files (default: search path)' },
  model: { key: 'model', kind: { type: 'enum', values: MODELS }, help: 'model (default cnn; resnet for cifar10)' },
  width: { key: 'width', kind: { type: 'int', min: 2 }, help: 'model width: mlp hidden units (second layer half of it), cnn/resnet base channels (default 128 / 16)' },
  optimizer: { key: 'optimizer', kind: { type: 'enum', values: OPTIMIZERS }, help: 'optimizer preset (default fop)' },
  curvature: { key: 'curvature', kind: { type: 'enum', values: CURVATURES }, help: "curvature estimator (default: the preset's)" },
  projection: { key: 'projection', kind: { type: 'enum', values: PROJECTIONS }, help: "gradient projection (default: the preset's)" },
  batch: { key: 'batch', kind: { type: 'int', min: 2 }, help: 'batch size (default 128; FOP splits it in two halves)' },
  epochs: { key: 'epochs', kind: { type: 'int', min: 1 }, help: 'epochs (default 5); with --resume, the new total' },
  lr: { key: 'lr', kind: { type: 'number', min: 0, minExclusive: true }, help: 'base learning rate (default per optimizer)' },
  'lr-schedule': { key: 'lrSchedule', kind: { type: 'enum', values: LR_SCHEDULES }, help: 'learning-rate schedule (default cosine)' },
  warmup: { key: 'warmup', kind: { type: 'int', min: 0 }, help: 'linear warm-up steps (default 0)' },
  momentum: { key: 'momentum', kind: { type: 'number', min: 0, max: 1, maxExclusive: true }, help: 'momentum / Adam beta1 (default 0.9)' },
  'weight-decay': { key: 'weightDecay', kind: { type: 'number', min: 0 }, help: 'weight decay (default per optimizer)' },
  damping: { key: 'damping', kind: { type: 'number', min: 0, minExclusive: true }, help: 'curvature damping lambda (default 1e-2)' },
  'damping-schedule': { key: 'dampingSchedule', kind: { type: 'enum', values: DAMPING_SCHEDULES }, help: 'damping schedule (default constant)' },
  fisher: { key: 'fisher', kind: { type: 'enum', values: FISHER_TYPES }, help: 'Fisher type (default sampled: the true Fisher)' },
  'factor-every': { key: 'factorEvery', kind: { type: 'int', min: 1 }, help: 'curvature statistics every N steps (default 1)' },
  'inverse-every': { key: 'inverseEvery', kind: { type: 'int', min: 1 }, help: 'inverse refresh every N steps (default 10)' },
  'statistics-worker': {
    key: 'statisticsWorker',
    kind: { type: 'enum', values: STATISTICS_WORKER_MODES },
    help: 'KFAC statistics on a second core (default auto: on for kfac curvature on wasm with >= 2 cores; same results)',
  },
  seed: { key: 'seed', kind: { type: 'int', min: 0 }, help: 'seed for weights, shuffling and Fisher sampling (default 1)' },
  backend: { key: 'backend', kind: { type: 'enum', values: BACKENDS }, help: 'tfjs backend (default auto: the fastest that loads)' },
  'target-accuracy': { key: 'targetAccuracy', kind: { type: 'number', min: 0, max: 1, minExclusive: true }, help: 'record the epoch and seconds when test accuracy first reaches this (e.g. 0.97)' },
  'train-size': { key: 'trainSize', kind: { type: 'int', min: 2 }, help: 'use a seeded subset of this many training examples' },
  'test-size': { key: 'testSize', kind: { type: 'int', min: 1 }, help: 'use a seeded subset of this many test examples' },
  name: { key: 'name', kind: { type: 'string' }, help: 'run name (default <dataset>-<model>-<optimizer>)' },
  'runs-dir': { key: 'runsDir', kind: { type: 'string' }, help: 'parent folder of run folders (default ./runs)' },
  distributed: {
    key: 'distributed',
    kind: { type: 'enum', values: DISTRIBUTED_MODES },
    help: 'data-parallel ranks over MPI (default auto: on when started by mpirun, mpiexec or srun; off: one process); docs/distributed.md',
  },
  resume: { key: 'resume', kind: { type: 'string' }, help: 'continue the run in this folder from its checkpoint' },
  json: { key: 'json', kind: { type: 'boolean' }, help: 'print JSON lines (one per event) on stdout instead of text' },
  help: { key: 'help', kind: { type: 'boolean' }, help: 'show this help' },
};

/** Flags a resumed run may change; the rest come from its config.json. */
export const RESUMABLE_FLAGS = new Set(['epochs', 'backend', 'statistics-worker', 'json', 'target-accuracy', 'resume', 'help', 'distributed']);

function describeKind(kind: Kind): string {
  switch (kind.type) {
    case 'enum':
      return `one of ${kind.values.join(', ')}`;
    case 'int':
      return `an integer >= ${kind.min}`;
    case 'number': {
      const lo = `${kind.minExclusive ? '>' : '>='} ${kind.min}`;
      const hi = kind.max === undefined ? '' : ` and ${kind.maxExclusive ? '<' : '<='} ${kind.max}`;
      return `a number ${lo}${hi}`;
    }
    case 'string':
      return 'a non-empty string';
    case 'boolean':
      return 'no value';
  }
}

function checkValue(kind: Kind, raw: string): { value?: string | number; problem?: string } {
  switch (kind.type) {
    case 'enum':
      return kind.values.includes(raw) ? { value: raw } : { problem: `"${raw}" is not allowed; allowed values: ${kind.values.join(', ')}` };
    case 'int': {
      const v = Number(raw);
      return raw.trim() !== '' && Number.isInteger(v) && v >= kind.min ? { value: v } : { problem: `"${raw}" is not ${describeKind(kind)}` };
    }
    case 'number': {
      const v = Number(raw);
      const ok =
        raw.trim() !== '' &&
        Number.isFinite(v) &&
        (kind.minExclusive ? v > kind.min : v >= kind.min) &&
        (kind.max === undefined || (kind.maxExclusive ? v < kind.max : v <= kind.max));
      return ok ? { value: v } : { problem: `"${raw}" is not ${describeKind(kind)}` };
    }
    case 'string':
      return raw.length > 0 ? { value: raw } : { problem: 'expects a non-empty value' };
    case 'boolean':
      return { value: raw };
  }
}

/** A bad value, with what the flag accepts and, for a mistyped choice, the nearest allowed one. */
function valueProblem(flag: string, kind: Kind, raw: string, problem: string): FlagProblem {
  const guess = kind.type === 'enum' ? nearest(raw, kind.values) : undefined;
  return {
    flag,
    message: `${problem}${kind.type !== 'enum' ? ` (expected ${describeKind(kind)})` : guess ? `; did you mean ${guess}?` : ''}`,
    expected: `--${flag} ${describeKind(kind)}`,
    received: `--${flag} ${JSON.stringify(raw)}`,
    fix: guess ? `write --${flag} ${guess}` : `pass --${flag} ${describeKind(kind)}, or leave it out for the default`,
  };
}

export function trainHelp(): string {
  const lines = Object.entries(TRAIN_FLAGS).map(([flag, spec]) => {
    const allowed = spec.kind.type === 'enum' ? ` [${spec.kind.values.join('|')}]` : '';
    return `  --${flag}${allowed}\n      ${spec.help}`;
  });
  return `Usage: natgrad train [flags]\n\nTrains a model and writes runs/<timestamp>-<name>/ (config.json, metrics.jsonl, metrics.csv, plot.svg, checkpoint/).\n\n${lines.join('\n')}\n`;
}

export interface ParseOptions {
  /**
   * Check --runs-dir (and --data-dir) on the file system (default true). Off for callers that
   * write no run folder (bench step times synthetic steps) or re-validate a stored config.
   */
  checkPaths?: boolean;
  /**
   * Refuse a run whose memory estimate exceeds what an explicitly named --backend can hold
   * (default true; models/memory.ts). Off for a stored config whose backend a resume may change.
   */
  checkMemory?: boolean;
}

/** Parses and validates `natgrad train` arguments; throws one FlagError listing every problem. */
export function parseTrainFlags(argv: string[], options: ParseOptions = {}): TrainInvocation {
  const types: OptionTypes = {};
  for (const [flag, spec] of Object.entries(TRAIN_FLAGS)) types[flag] = { type: spec.kind.type === 'boolean' ? 'boolean' : 'string' };
  const problems: FlagProblem[] = [];
  const parsed = parseCommandArgs('train', argv, types, false);
  const values: Record<string, string | number | boolean> = {};
  const explicit = new Set<string>();
  for (const [flag, raw] of Object.entries(parsed.values)) {
    if (raw === undefined) continue;
    const spec = TRAIN_FLAGS[flag];
    explicit.add(flag);
    if (Array.isArray(raw)) continue;
    if (typeof raw === 'boolean') {
      values[flag] = raw;
      continue;
    }
    const { value, problem } = checkValue(spec.kind, raw);
    if (problem) problems.push(valueProblem(flag, spec.kind, raw, problem));
    else values[flag] = value!;
  }

  const dataset = (values.dataset as DatasetName | undefined) ?? 'mnist';
  const optimizer = (values.optimizer as OptimizerName | undefined) ?? 'fop';
  const preset = PRESETS[optimizer];
  const model = (values.model as ModelName | undefined) ?? (dataset === 'cifar10' ? 'resnet' : 'cnn');
  const curvature = (values.curvature as CurvatureName | undefined) ?? preset.curvature;
  const projection = (values.projection as ProjectionName | undefined) ?? preset.projection;

  // Combinations that cannot work are rejected here, naming both flags, not deep inside training.
  if (curvature === 'none' && projection === 'fop') {
    problems.push({
      flag: explicit.has('projection') ? 'projection' : 'curvature',
      message: 'the fop projection needs a curvature estimate (its metric is the Fisher); use --curvature kfac|diagonal or --projection average|identity',
    });
  }
  if (curvature === 'none' && explicit.has('damping')) {
    problems.push({ flag: 'damping', message: 'has no effect without a curvature estimator (--curvature none); drop it or choose --curvature kfac|diagonal' });
  }
  // A new run needs the --runs-dir it was given to be (or become) a folder. Only a given one: the
  // default ./runs is checked where it is created, so that re-validating a stored config (which
  // leaves --runs-dir out) never depends on the folder the resume is started from.
  if (options.checkPaths !== false) {
    const bad = [
      values['runs-dir'] === undefined ? null : checkOutputDir('runs-dir', String(values['runs-dir'])),
      values['data-dir'] === undefined ? null : checkInputDir('data-dir', String(values['data-dir'])),
    ];
    for (const p of bad) if (p !== null) problems.push(p);
  }
  if (problems.length > 0) throw new FlagError('train', problems);

  const trainSize = (values['train-size'] as number | undefined) ?? null;
  const batchFlag = (values.batch as number | undefined) ?? 128;
  const config: TrainConfig = {
    dataset,
    dataDir: (values['data-dir'] as string | undefined) ?? null,
    model,
    width: (values.width as number | undefined) ?? null,
    optimizer,
    curvature,
    projection,
    // A tiny subset with the default batch would give zero steps: clamp to the (even) subset size.
    batch: trainSize !== null && !explicit.has('batch') ? Math.min(batchFlag, trainSize - (trainSize % 2)) : batchFlag,
    epochs: (values.epochs as number | undefined) ?? 5,
    lr: (values.lr as number | undefined) ?? preset.lr,
    lrSchedule: (values['lr-schedule'] as TrainConfig['lrSchedule'] | undefined) ?? 'cosine',
    warmup: (values.warmup as number | undefined) ?? 0,
    momentum: (values.momentum as number | undefined) ?? preset.momentum,
    weightDecay: (values['weight-decay'] as number | undefined) ?? preset.weightDecay,
    damping: (values.damping as number | undefined) ?? (curvature === 'none' ? 0 : preset.damping || 1e-2),
    dampingSchedule: (values['damping-schedule'] as TrainConfig['dampingSchedule'] | undefined) ?? 'constant',
    fisher: (values.fisher as TrainConfig['fisher'] | undefined) ?? 'sampled',
    factorEvery: (values['factor-every'] as number | undefined) ?? 1,
    statisticsWorker: (values['statistics-worker'] as TrainConfig['statisticsWorker'] | undefined) ?? 'auto',
    inverseEvery: (values['inverse-every'] as number | undefined) ?? 10,
    seed: (values.seed as number | undefined) ?? 1,
    backend: (values.backend as BackendName | undefined) ?? 'auto',
    targetAccuracy: (values['target-accuracy'] as number | undefined) ?? null,
    trainSize,
    testSize: (values['test-size'] as number | undefined) ?? null,
    name: (values.name as string | undefined) ?? `${dataset}-${model}-${optimizer}`,
    runsDir: (values['runs-dir'] as string | undefined) ?? 'runs',
  };
  if (config.batch > 1 && config.projection === 'fop' && config.batch % 2 !== 0) {
    throw new FlagError('train', [{ flag: 'batch', message: `${config.batch} is odd; the fop projection splits each batch into two equal halves, so pass an even batch size` }]);
  }
  // A backend named on the command line has a known memory limit: refuse a run that cannot fit it
  // now, from the dataset's image size, before anything is loaded or written. (--backend auto and
  // --data-dir folders are checked by checkTrainingMemory once the backend and images are known.)
  if (options.checkMemory !== false && values.resume === undefined && config.dataDir === null && config.backend !== 'auto') {
    checkTrainingMemory(config, DATASET_SHAPES[config.dataset], 10, config.backend);
  }
  return {
    config,
    resume: (values.resume as string | undefined) ?? null,
    json: values.json === true,
    help: values.help === true,
    distributed: (values.distributed as DistributedMode | undefined) ?? 'auto',
    explicit,
  };
}
