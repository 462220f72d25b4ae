/**
 * Training-kernel benchmark: matMul and conv2d forward+backward with the stock tfjs kernels and
 * gradients versus natgrad's (installWasmTrainingKernels), on the cpu and wasm backends. Stock runs
 * first, then natgrad's are installed (registration is global and one-way). GFLOP/s counts the
 * nominal 2*M*N*K multiply-adds of the forward pass and twice that for the backward pass.
 * Prints a markdown table; copy it into docs/benchmarks.md with the command line and machine.
 *   pnpm --filter @natgrad/backends bench [-- --quick]
 */
import * as tf from '@tensorflow/tfjs';
import '@tensorflow/tfjs-backend-wasm';
import { cpus } from 'node:os';
import { installWasmTrainingKernels } from '../src/wasm-training-kernels';
import { filterGradient, tensorFilterGradOps } from '../src/conv2d-backprop-filter';

const quick = process.argv.includes('--quick');

interface Workload {
  label: string;
  flops: number;
  /** Builds inputs once and returns a step that runs the work and syncs on its results. */
  setup(): { step: () => void; dispose: () => void };
}

function randn(shape: number[]): tf.Tensor {
  return tf.randomNormal(shape, 0, 1, 'float32', 42);
}

/** sum(x W * dy)'s gradients w.r.t. x and W, i.e. one dense layer's backward pass. */
function matMulWorkload(batch: number, inSize: number, outSize: number, fused: boolean): Workload {
  return {
    label: `${fused ? 'fused.matMul (Dense)' : 'matMul'} ${batch}x${inSize} · ${inSize}x${outSize}`,
    flops: 3 * 2 * batch * inSize * outSize,
    setup() {
      const x = randn([batch, inSize]);
      const w = randn([inSize, outSize]);
      const dy = randn([batch, outSize]);
      const f = (a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(fused ? tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D }) : tf.matMul(a, b), dy));
      const grads = tf.grads(f);
      return {
        step: () => {
          const gs = grads([x, w]);
          for (const g of gs) g.dataSync();
          tf.dispose(gs);
        },
        dispose: () => tf.dispose([x, w, dy]),
      };
    },
  };
}

function convWorkload(batch: number, hw: number, cin: number, cout: number): Workload {
  return {
    label: `conv2d ${batch}x${hw}x${hw}x${cin} * 3x3x${cin}x${cout} same`,
    flops: 3 * 2 * batch * hw * hw * cin * cout * 9,
    setup() {
      const x = randn([batch, hw, hw, cin]);
      const k = randn([3, 3, cin, cout]);
      const grads = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 1, 'same')));
      return {
        step: () => {
          const gs = grads([x, k]);
          for (const g of gs) g.dataSync();
          tf.dispose(gs);
        },
        dispose: () => tf.dispose([x, k]),
      };
    },
  };
}

/** The filter gradient alone: the backend's Conv2DBackpropFilter kernel, or the rewrite as tf ops. */
function filterGradWorkload(batch: number, hw: number, cin: number, cout: number, asOps: boolean): Workload {
  return {
    label: `conv2d dW only ${batch}x${hw}x${hw}x${cin} -> ${cout}${asOps ? ' (rewrite as tf ops)' : ''}`,
    flops: 2 * batch * hw * hw * cin * cout * 9,
    setup() {
      const x = randn([batch, hw, hw, cin]) as tf.Tensor4D;
      const dy = randn([batch, hw, hw, cout]) as tf.Tensor4D;
      const geometry = {
        filterShape: [3, 3, cin, cout] as [number, number, number, number],
        strides: [1, 1] as [number, number],
        dilations: [1, 1] as [number, number],
        pad: { top: 1, bottom: 1, left: 1, right: 1 },
        dataFormat: 'NHWC' as const,
      };
      const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', filterShape: geometry.filterShape };
      return {
        step: () => {
          const dw = asOps
            ? tf.tidy(() => filterGradient(tensorFilterGradOps, x, dy, geometry))
            : (tf.engine().runKernel('Conv2DBackpropFilter', { x, dy }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor);
          dw.dataSync();
          dw.dispose();
        },
        dispose: () => tf.dispose([x, dy]),
      };
    },
  };
}

/**
 * Copies only: FOP's split of a batch into two halves (SplitV), and a 2-D row slice plus a column
 * slice (Slice). `flops` counts the elements moved, so the GFLOP/s column reads G elements/s.
 */
function sliceWorkload(rows: number, cols: number, kind: 'split' | 'slice'): Workload {
  return {
    label: kind === 'split' ? `split ${rows}x${cols} in halves (copies only; G elements/s)` : `slice rows and columns of ${rows}x${cols} (copies only; G elements/s)`,
    flops: rows * cols,
    setup() {
      const x = randn([rows, cols]);
      return {
        step: () => {
          const parts =
            kind === 'split'
              ? tf.split(x, 2, 0)
              : [tf.slice(x, [0, 0], [rows / 2, cols]), tf.slice(x, [0, 0], [rows, cols / 2])];
          for (const p of parts) p.dataSync();
          tf.dispose(parts);
        },
        dispose: () => x.dispose(),
      };
    },
  };
}

type Mode = 'stock' | 'natgrad';

/**
 * Switches the tfjs registries between the stock wasm kernels/gradient and natgrad's, so that the
 * two can be timed alternately (the machine is shared; alternating keeps load drift out of the ratio).
 */
function modeSwitcher(): { use(mode: Mode): void; report: unknown } {
  const stockMatMul = tf.getKernel('BatchMatMul', 'wasm')!;
  const stockGrad = tf.getGradient('BatchMatMul')!;
  const stockInput = tf.getKernel('Conv2DBackpropInput', 'wasm')!;
  const stockSlice = tf.getKernel('Slice', 'wasm')!;
  const stockSplit = tf.getKernel('SplitV', 'wasm')!;
  const report = installWasmTrainingKernels();
  const ours = {
    matMul: tf.getKernel('BatchMatMul', 'wasm')!,
    grad: tf.getGradient('BatchMatMul')!,
    conv: tf.getKernel('Conv2DBackpropFilter', 'wasm')!,
    input: tf.getKernel('Conv2DBackpropInput', 'wasm')!,
    slice: tf.getKernel('Slice', 'wasm')!,
    split: tf.getKernel('SplitV', 'wasm')!,
  };
  return {
    report,
    use(mode) {
      tf.unregisterKernel('BatchMatMul', 'wasm');
      tf.registerKernel(mode === 'stock' ? stockMatMul : ours.matMul);
      tf.registerGradient(mode === 'stock' ? stockGrad : ours.grad);
      tf.unregisterKernel('Conv2DBackpropInput', 'wasm');
      tf.registerKernel(mode === 'stock' ? stockInput : ours.input);
      tf.unregisterKernel('Slice', 'wasm');
      tf.registerKernel(mode === 'stock' ? stockSlice : ours.slice);
      tf.unregisterKernel('SplitV', 'wasm');
      tf.registerKernel(mode === 'stock' ? stockSplit : ours.split);
      const hasConv = tf.getKernel('Conv2DBackpropFilter', 'wasm') !== undefined;
      if (mode === 'stock' && hasConv) tf.unregisterKernel('Conv2DBackpropFilter', 'wasm');
      if (mode === 'natgrad' && !hasConv) tf.registerKernel(ours.conv);
    },
  };
}

/** The input gradient alone, through the backend's Conv2DBackpropInput kernel. */
function inputGradWorkload(batch: number, hw: number, cin: number, cout: number): Workload {
  return {
    label: `conv2d dx only ${batch}x${hw}x${hw}x${cout} -> ${cin}`,
    flops: 2 * batch * hw * hw * cin * cout * 9,
    setup() {
      const dy = randn([batch, hw, hw, cout]);
      const filter = randn([3, 3, cin, cout]);
      const attrs = { strides: [1, 1], pad: 'same', dataFormat: 'NHWC', inputShape: [batch, hw, hw, cin] };
      return {
        step: () => {
          const dx = tf.engine().runKernel('Conv2DBackpropInput', { dy, filter }, attrs as unknown as tf.NamedAttrMap) as tf.Tensor;
          dx.dataSync();
          dx.dispose();
        },
        dispose: () => tf.dispose([dy, filter]),
      };
    },
  };
}

interface Row {
  backend: string;
  label: string;
  flops: number;
  stock: number | string;
  natgrad: number | string;
}

const errorText = (error: unknown) =>
  `fails: ${(error instanceof Error ? error.message : String(error)).split('\n')[0].slice(0, 70)}`;

/**
 * Best-of-N seconds per step for the stock and natgrad variants, run alternately after one
 * warm-up each. The minimum is the least contention-sensitive statistic on a shared machine.
 */
function compare(
  backend: string,
  stockW: Workload,
  natW: Workload,
  use: (m: Mode) => void,
  iters: number,
): Row {
  const sides: [Mode, Workload][] = [
    ['stock', stockW],
    ['natgrad', natW],
  ];
  const best: Record<Mode, number | string> = { stock: Number.POSITIVE_INFINITY, natgrad: Number.POSITIVE_INFINITY };
  const runs = sides.map(([mode, w]) => ({ mode, ...w.setup() }));
  try {
    for (let i = 0; i <= iters; i++) {
      for (const run of runs) {
        if (typeof best[run.mode] === 'string') continue;
        use(run.mode);
        const start = performance.now();
        try {
          run.step();
        } catch (error) {
          best[run.mode] = errorText(error);
          continue;
        }
        const seconds = (performance.now() - start) / 1000;
        if (i > 0) best[run.mode] = Math.min(best[run.mode] as number, seconds);
      }
    }
  } finally {
    for (const run of runs) run.dispose();
    use('natgrad');
  }
  return { backend, label: natW.label, flops: natW.flops, stock: best.stock, natgrad: best.natgrad };
}

async function main(): Promise<void> {
  const big = !quick;
  const iters = quick ? 2 : 3;
  const switcher = modeSwitcher();
  const rows: Row[] = [];

  await tf.setBackend('cpu');
  for (const [stockW, natW] of [
    [matMulWorkload(128, 784, 256, false), matMulWorkload(128, 784, 256, false)],
    [matMulWorkload(128, 784, 256, true), matMulWorkload(128, 784, 256, true)],
    // On cpu natgrad registers nothing for conv; this row compares the cpu backend's own
    // Conv2DBackpropFilter kernel with the batch-as-channels rewrite run as cpu tf ops.
    [filterGradWorkload(4, 14, 16, 32, false), filterGradWorkload(4, 14, 16, 32, true)],
  ] as [Workload, Workload][]) {
    rows.push(compare('cpu', stockW, natW, switcher.use, iters));
  }

  await tf.setBackend('wasm');
  const heapBefore = wasmHeapBytes();
  for (const w of [
    big ? matMulWorkload(4096, 784, 512, false) : matMulWorkload(512, 784, 512, false),
    big ? matMulWorkload(4096, 784, 512, true) : matMulWorkload(512, 784, 512, true),
    big ? convWorkload(64, 28, 32, 64) : convWorkload(8, 28, 32, 64),
    big ? filterGradWorkload(64, 28, 32, 64, false) : filterGradWorkload(8, 28, 32, 64, false),
    big ? inputGradWorkload(64, 28, 32, 64) : inputGradWorkload(8, 28, 32, 64),
    sliceWorkload(4096, 784, 'split'),
    sliceWorkload(4096, 784, 'slice'),
  ]) {
    rows.push(compare('wasm', w, w, switcher.use, iters));
  }
  const heapAfter = wasmHeapBytes();

  const fmt = (v: number | string, flops: number) =>
    typeof v === 'string' ? v : `${(v * 1000).toFixed(1)} ms (${(flops / v / 1e9).toFixed(2)} GFLOP/s)`;
  console.log(`machine: ${cpus()[0]?.model ?? 'unknown'} x${cpus().length}, Node ${process.version}, tfjs ${tf.version.tfjs}`);
  console.log(`installWasmTrainingKernels: ${JSON.stringify(switcher.report)}`);
  console.log(`wasm heap across the wasm rows: ${heapBefore} -> ${heapAfter} bytes`);
  console.log('');
  console.log('| backend | workload (fwd+bwd unless noted) | stock (best of ' + iters + ') | natgrad (best of ' + iters + ') | speed-up |');
  console.log('|---|---|---|---|---|');
  for (const r of rows) {
    const speedUp = typeof r.stock === 'number' && typeof r.natgrad === 'number' ? `${(r.stock / r.natgrad).toFixed(2)}x` : 'n/a';
    console.log(`| ${r.backend} | ${r.label} | ${fmt(r.stock, r.flops)} | ${fmt(r.natgrad, r.flops)} | ${speedUp} |`);
  }
}

function wasmHeapBytes(): number | string {
  const backend = tf.findBackend('wasm') as unknown as { wasm?: { HEAPU8?: Uint8Array } } | null;
  return backend?.wasm?.HEAPU8?.length ?? 'n/a';
}

await main();
