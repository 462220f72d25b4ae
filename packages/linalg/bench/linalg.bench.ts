/**
 * Benchmark of every linalg method on the cpu and wasm backends (webgpu on request): median wall time
 * of a damped inverse (and Cholesky / eigh) of a KFAC-like factor with κ(A + λI) = 1e3, plus the
 * float64-measured relative residual ‖(A+λI)X − I‖_F/√n. Prints markdown tables for
 * docs/benchmarks.md and docs/algorithms/linalg.md. Never run in tests.
 *
 *   pnpm --filter @natgrad/linalg bench            # n = 64 … 1024
 *   pnpm --filter @natgrad/linalg bench -- --large # adds n = 2048
 *   pnpm --filter @natgrad/linalg bench -- --backend=wasm # one backend only
 *   pnpm --filter @natgrad/linalg bench -- --backend=webgpu --sizes=65,129,257 --reps=3
 *     # webgpu through @natgrad/backends' selectBackend (Dawn), with an 'auto' column that names its pick
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import os from 'node:os';
import { type ConcreteMethod, cholesky, dampedInverseDetailed, eigh, inverseResidual } from '../src/index';
import { dampingForCondition, kfacFactor } from '../src/test-matrices';

const args = process.argv.slice(2).filter((a) => a !== '--');
const large = args.includes('--large');
const only = args.find((a) => a.startsWith('--backend='))?.slice('--backend='.length);
const sizesArg = args.find((a) => a.startsWith('--sizes='))?.slice('--sizes='.length);
const sizes = sizesArg ? sizesArg.split(',').map(Number) : large ? [64, 128, 256, 512, 1024, 2048] : [64, 128, 256, 512, 1024];
const repsArg = args.find((a) => a.startsWith('--reps='))?.slice('--reps='.length);
const KAPPA = 1e3;

/** Largest n per (backend, method) that finishes in seconds; beyond it the cell says "skipped". */
const LIMITS: Record<string, Partial<Record<string, number>>> = {
  cpu: { host: 1024, blocked: 1024, 'newton-schulz': 256, 'ns-warm': 256, 'cholesky-blocked': 1024, eigh: 512 },
  wasm: { host: 2048, blocked: 2048, 'newton-schulz': 512, 'ns-warm': 1024, 'cholesky-blocked': 2048, eigh: 512 },
  webgpu: { auto: 2048, host: 1024, blocked: 2048, 'newton-schulz': 2048, 'ns-warm': 2048, 'cholesky-blocked': 2048 },
};

/** Which backend columns to time: webgpu adds 'auto' (what the policy picks there is the question) and drops eigh (host only). */
function columnsFor(backend: string): string[] {
  if (backend === 'webgpu') return ['auto', 'host', 'blocked', 'newton-schulz', 'ns-warm', 'cholesky-blocked'];
  return ['host', 'blocked', 'newton-schulz', 'ns-warm', 'cholesky-blocked', 'eigh'];
}

async function activate(backend: string): Promise<string> {
  if (backend === 'webgpu') {
    // Dawn, navigator.gpu and the WebGPU device handling are set up by @natgrad/backends, as users get them.
    const { selectBackend } = await import('@natgrad/backends/node');
    const selection = await selectBackend({ prefer: 'webgpu' });
    return selection.reason;
  }
  await tf.setBackend(backend);
  await tf.ready();
  return '';
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Median of `reps` timed calls after one untimed warm-up call (wasm grows its heap on first use). */
async function time(fn: () => Promise<tf.Tensor | tf.Tensor[]>, reps: number): Promise<number> {
  tf.dispose(await fn());
  const out: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    const r = await fn();
    // Reading one value makes sure the device work behind the result has finished.
    await (Array.isArray(r) ? r[0] : r).data();
    out.push(performance.now() - t0);
    tf.dispose(r);
  }
  return median(out);
}

const fmt = (ms: number) => (ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`);

async function run(backend: string): Promise<string> {
  const detail = await activate(backend);
  const columns = columnsFor(backend);
  const lines = [
    `### Backend: ${backend}${detail ? ` (${detail})` : ''}`,
    '',
    '| n | ' + columns.join(' | ') + ' |',
    '|---|' + columns.map(() => '---').join('|') + '|',
  ];
  for (const n of sizes) {
    const { a: raw, lambdaMax } = kfacFactor(n, 1);
    const damping = dampingForCondition(lambdaMax, KAPPA);
    const a = tf.tensor2d(Float32Array.from(raw), [n, n]);
    const reps = repsArg ? Number(repsArg) : n <= 256 ? 5 : n <= 1024 ? 3 : 1;
    const cells: string[] = [];
    for (const col of columns) {
      if (n > (LIMITS[backend][col] ?? 0)) {
        cells.push('skipped');
        continue;
      }
      let ms: number;
      let note = '';
      if (col === 'eigh') {
        ms = await time(async () => {
          const r = await eigh(a, { method: 'host' });
          return [r.values, r.vectors];
        }, reps);
      } else if (col === 'cholesky-blocked') {
        ms = await time(() => cholesky(a, damping, { method: 'blocked' }), reps);
      } else if (col === 'ns-warm') {
        // Warm start from the inverse of the factor before a 5% EMA-like change (A_prev = 0.95 A).
        const prev = tf.mul(a, 0.95) as tf.Tensor2D;
        const start = (await dampedInverseDetailed(prev, damping, { method: n <= 256 ? 'host' : 'blocked' })).inverse;
        let iterations = 0;
        ms = await time(async () => {
          const r = await dampedInverseDetailed(a, damping, { method: 'newton-schulz', warmStart: start });
          iterations = r.iterations ?? 0;
          return r.inverse;
        }, reps);
        const check = (await dampedInverseDetailed(a, damping, { method: 'newton-schulz', warmStart: start })).inverse;
        note = ` (${iterations} it, r=${(await inverseResidual(a, damping, check)).toExponential(1)})`;
        tf.dispose([prev, start, check]);
      } else {
        const method = col === 'auto' ? 'auto' : (col as ConcreteMethod);
        let iterations: number | undefined;
        let chosen = '';
        ms = await time(async () => {
          const r = await dampedInverseDetailed(a, damping, { method });
          iterations = r.iterations;
          chosen = r.method;
          return r.inverse;
        }, reps);
        const x = (await dampedInverseDetailed(a, damping, { method })).inverse;
        const r = n <= 1024 ? (await inverseResidual(a, damping, x)).toExponential(1) : 'n/a';
        const picked = col === 'auto' ? `${chosen}, ` : '';
        note = iterations === undefined ? ` (${picked}r=${r})` : ` (${picked}${iterations} it, r=${r})`;
        x.dispose();
      }
      cells.push(fmt(ms) + note);
    }
    a.dispose();
    lines.push(`| ${n} | ${cells.join(' | ')} |`);
    console.error(`[${backend}] n=${n} done`);
  }
  return lines.join('\n');
}

const header = [
  '## Linear algebra',
  '',
  `Command: \`pnpm --filter @natgrad/linalg bench${args.length > 0 ? ` -- ${args.join(' ')}` : ''}\` (packages/linalg/bench/linalg.bench.ts).`,
  `Machine: ${os.cpus().length} cores (${os.cpus()[0]?.model ?? 'unknown CPU'}), Node ${process.version}, tfjs ${tf.version.tfjs}.`,
  `Matrix: KFAC-like factor Xᵀ X / m (m = n/2, rank-deficient) damped to κ(A + λI) = ${KAPPA}. Median of 5 (n ≤ 256), 3 (n = 512, 1024), 1 (larger) runs, each after one untimed warm-up call.`,
  'Cells: wall time of one call, float64-measured relative residual r = ‖(A+λI)X − I‖_F/√n, Newton–Schulz iterations.',
  "Columns: host = float64 JS Cholesky inverse; blocked = recursive Schur-complement inverse, 128-blocks on the host, matMuls on the backend;",
  'newton-schulz = cold start X₀ = I/min(‖M‖_F, ‖M‖_∞); ns-warm = warm start from the inverse of 0.95·A; cholesky-blocked = blocked right-looking Cholesky; eigh = float64 Householder + QL;',
  "auto (webgpu only) = method 'auto', the cell names the method chooseMethod picked.",
  '',
];
const tables: string[] = [];
for (const backend of only ? [only] : ['wasm', 'cpu']) tables.push(await run(backend));
console.log([...header, tables.join('\n\n')].join('\n'));
