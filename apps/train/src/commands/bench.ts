/**
 * `natgrad bench step` (per-step cost of each optimizer, bench/step-bench.ts) and `natgrad bench
 * study` (the large-batch study of arXiv 2508.13898 Table 1 on Fashion-MNIST, bench/study.ts).
 * `bench step` takes the configuration flags of `natgrad train` (model, width, batch, backend,
 * fisher, factor/inverse cadence, damping...) plus its own --optimizers, --steps and --warmup
 * (here: untimed steps, not the learning-rate warm-up); --out writes the JSON and the table.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { chooseBackend, describeSelection } from '../backend';
import { runStepBench, type StepBenchResult, stepBenchTable } from '../bench/step-bench';
import { STUDY_PRESETS, studyPreset } from '../bench/study-config';
import { runStudy } from '../bench/study';
import { loadDataset } from '../data/load';
import { FlagError } from '../flags/flag-error';
import { parseCommandArgs } from '../flags/parse-args';
import { nearest } from '../flags/suggest';
import { OPTIMIZERS, parseTrainFlags } from '../flags/train-flags';
import type { Output } from './output';

export const BENCH_HELP = `Usage: natgrad bench step [flags]     per-step time of each optimizer (interleaved)
       natgrad bench study [flags]    the large-batch study (Table 1 analogue) on Fashion-MNIST

bench step flags:
  --optimizers a,b,...   subset of ${OPTIMIZERS.join(',')} (default: all); a name may end in
                         :worker or :inline to set --statistics-worker on/off for that row only
                         (e.g. kfac:inline,kfac:worker)
  --steps N              timed steps per optimizer (default 20)
  --warmup N             untimed steps first, including the profiled memory step (default 3, >= 1)
  --block N              consecutive steps per optimizer turn (default 1, or --inverse-every when
                         a KFAC row's statistics worker overlaps statistics across steps and it
                         divides --steps: that overlap shows only over a run of steps)
  --out <dir>            also write step-bench.json and step-bench.md there
  --json                 print the result as JSON instead of the markdown table
  plus the configuration flags of natgrad train: --model --width --batch --backend --dataset
  (input shape only; inputs are synthetic) --fisher --factor-every --inverse-every --damping
  --damping-schedule --lr --momentum --weight-decay --curvature --projection --seed

bench study flags:
  --preset ${Object.keys(STUDY_PRESETS).join('|')}   (default reduced)
  --out <dir>            study folder (default runs/study-<preset>); rerun to resume
  --backend <name>       as for train (default wasm)
  --data-dir <dir>       dataset folder (default: the train search path)
  --json                 print results.json's rows instead of the markdown
`;

const STEP_OWN = new Set(['optimizers', 'steps', 'warmup', 'block', 'out', 'json', 'help']);
const PLACEMENTS: Record<string, string[]> = { '': [], worker: ['--statistics-worker', 'on'], inline: ['--statistics-worker', 'off'] };
const STEP_BOOLEAN = new Set(['json', 'help']);
/** Train flags that mean nothing for a timing run. */
const STEP_REFUSED = new Set(['optimizer', 'epochs', 'resume', 'name', 'runs-dir', 'target-accuracy', 'train-size', 'test-size', 'data-dir', 'lr-schedule']);

function parseInt0(flag: string, raw: string | undefined, fallback: number, min: number, problems: { flag: string; message: string }[]): number {
  if (raw === undefined) return fallback;
  const v = Number(raw);
  if (!Number.isInteger(v) || v < min) {
    problems.push({ flag, message: `"${raw}" is not an integer >= ${min}` });
    return fallback;
  }
  return v;
}

async function stepCommand(argv: string[], out: Output): Promise<number> {
  const own: Record<string, string | boolean> = {};
  const rest: string[] = [];
  const problems: { flag: string; message: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const token = argv[i];
    const name = token === '-h' ? 'help' : token.startsWith('--') ? token.slice(2).split('=')[0] : null;
    if (name !== null && STEP_OWN.has(name)) {
      if (STEP_BOOLEAN.has(name)) own[name] = true;
      else if (token.includes('=')) own[name] = token.slice(token.indexOf('=') + 1);
      else if (i + 1 < argv.length) own[name] = argv[++i];
      else problems.push({ flag: name, message: 'expects a value' });
    } else if (name !== null && STEP_REFUSED.has(name)) {
      problems.push({ flag: name, message: name === 'optimizer' ? 'use --optimizers a,b,... in bench step' : 'not used by bench step (it times steps on synthetic inputs)' });
    } else {
      rest.push(token);
    }
  }
  if (own.help) {
    out.stdout(BENCH_HELP);
    return 0;
  }
  const names = typeof own.optimizers === 'string' ? own.optimizers.split(',').map((s) => s.trim()) : [...OPTIMIZERS];
  const split = (n: string) => {
    const [optimizer, placement = ''] = n.split(':');
    return { optimizer, placement };
  };
  const unknown = names.filter((n) => !(OPTIMIZERS as readonly string[]).includes(split(n).optimizer) || !(split(n).placement in PLACEMENTS));
  if (unknown.length > 0 || names.length === 0) problems.push({ flag: 'optimizers', message: `"${unknown.join(',')}" not allowed; a comma list of ${OPTIMIZERS.join(', ')}, each optionally with :worker or :inline` });
  const steps = parseInt0('steps', own.steps as string | undefined, 20, 1, problems);
  const warmup = parseInt0('warmup', own.warmup as string | undefined, 3, 1, problems);
  const configs: { label: string; config: ReturnType<typeof parseTrainFlags>['config'] }[] = [];
  if (problems.length === 0) {
    for (const name of names) {
      try {
        const { optimizer, placement } = split(name);
        configs.push({ label: name, config: parseTrainFlags([...rest, '--optimizer', optimizer, ...PLACEMENTS[placement]], { checkPaths: false }).config });
      } catch (e) {
        if (e instanceof FlagError) throw new FlagError('bench step', e.problems);
        throw e;
      }
    }
  }
  if (problems.length > 0) throw new FlagError('bench step', problems);

  const selection = await chooseBackend(configs[0].config.backend);
  out.stderr(`${describeSelection(selection).join('\n')}\n`);
  const dataset = configs[0].config.dataset;
  const inputShape: [number, number, number] = dataset === 'cifar10' ? [32, 32, 3] : [28, 28, 1];
  const block = own.block === undefined ? undefined : parseInt0('block', own.block as string, 1, 1, problems);
  if (problems.length > 0) throw new FlagError('bench step', problems);
  const partial = await runStepBench({ configs, steps, warmup, block, inputShape, numClasses: 10 }, (done, total) => {
    if (done % 5 === 0 || done === total) out.stderr(`bench step: round ${done}/${total}\n`);
  });
  const cpu = cpus();
  const result: StepBenchResult = {
    ...partial,
    inputs: `synthetic ${inputShape.join('x')} N(0,1) inputs, uniform random labels`,
    machine: { cpus: cpu.length, cpuModel: cpu[0]?.model ?? 'unknown', node: process.version, platform: `${process.platform}-${process.arch}`, loadAverage: loadavg() },
  };
  const table = stepBenchTable(result);
  if (typeof own.out === 'string') {
    mkdirSync(own.out, { recursive: true });
    writeFileSync(join(own.out, 'step-bench.json'), `${JSON.stringify(result, null, 1)}\n`);
    writeFileSync(join(own.out, 'step-bench.md'), `${table}\n`);
  }
  out.stdout(own.json ? `${JSON.stringify(result)}\n` : `${table}\n`);
  return 0;
}

async function studyCommand(argv: string[], out: Output): Promise<number> {
  const parsed = parseCommandArgs('bench study', argv, { preset: { type: 'string' }, out: { type: 'string' }, backend: { type: 'string' }, 'data-dir': { type: 'string' }, json: { type: 'boolean' } }, false);
  const v = parsed.values as Record<string, string | boolean | undefined>;
  if (v.help) {
    out.stdout(BENCH_HELP);
    return 0;
  }
  const presetName = (v.preset as string | undefined) ?? 'reduced';
  if (!(presetName in STUDY_PRESETS)) throw new FlagError('bench study', [{ flag: 'preset', message: `"${presetName}" is not allowed; allowed values: ${Object.keys(STUDY_PRESETS).join(', ')}` }]);
  const preset = studyPreset(presetName);
  // Validates --backend with train's own rules (and messages).
  const backend = parseTrainFlags(['--backend', (v.backend as string | undefined) ?? 'wasm'], { checkPaths: false }).config.backend;
  const selection = await chooseBackend(backend);
  out.stderr(`${describeSelection(selection).join('\n')}\n`);
  const dataDir = (v['data-dir'] as string | undefined) ?? null;
  const data = await loadDataset(preset.dataset, dataDir ?? undefined);
  const result = await runStudy({ preset, outDir: (v.out as string | undefined) ?? join('runs', `study-${preset.name}`), backend: selection.name, dataDir, trainCount: data.train.count }, out);
  out.stdout(
    v.json
      ? `${JSON.stringify({ event: 'study', preset: result.preset, rows: result.rows, plots: result.plots, totalWallSeconds: result.totalWallSeconds })}\n`
      : `${result.markdown}\n\nplots: ${result.plots.join(', ')}\ncells' wall time: ${(result.totalWallSeconds / 60).toFixed(1)} min\n`,
  );
  return 0;
}

export const BENCH_SUBCOMMANDS = ['step', 'study'] as const;

export async function benchCommand(argv: string[], out: Output): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'step') return stepCommand(rest, out);
  if (sub === 'study') return studyCommand(rest, out);
  if (sub === undefined || sub === '--help' || sub === '-h' || sub === 'help') {
    out.stdout(BENCH_HELP);
    return 0;
  }
  const guess = nearest(sub, BENCH_SUBCOMMANDS);
  throw new FlagError('bench', [
    {
      flag: 'subcommand',
      positional: true,
      message: `unknown bench subcommand "${sub}"${guess ? `; did you mean ${guess}?` : ''}`,
      expected: `one of ${BENCH_SUBCOMMANDS.join(', ')} after natgrad bench`,
      received: `"${sub}"`,
      fix: guess ? `run natgrad bench ${[guess, ...rest].join(' ')}` : 'run natgrad bench step (per-step cost) or natgrad bench study (large-batch study); natgrad bench --help lists their flags',
    },
  ]);
}
