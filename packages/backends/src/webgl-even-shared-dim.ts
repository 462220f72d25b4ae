/**
 * Works around a wrong-result defect of tfjs-backend-webgl 4.22, found by natgrad's numerical tests
 * in Chromium. WebGL tensors live in "packed" textures of 2×2 texels; a tensor with an odd last (or
 * second-to-last) dimension leaves padding channels in its last texel column (row). The packed
 * element-wise shaders write f(padding) there, e.g. exp(0) = 1 or x − 0.1 = −0.1, and the packed
 * matMul shader (MatMulPackedProgram) sums over ceil(k/2) texels of the shared dimension k without
 * masking, so for odd k the padding products enter every output: tf.matMul(tf.exp(a), b) with
 * k = 3 is off by O(1), and KFAC's G = gᵀg of a softmax-cross-entropy gradient at batch size 1 was
 * off by 0.15 (webgl-even-shared-dim.browser-spec.ts measures these). An uploaded tensor has zero
 * padding, which is why tfjs's own tests miss it. The same shader serves a 1×1 Conv2D (tfjs
 * reshapes it to a matMul over the input channels).
 *
 * The fix keeps tfjs's kernels and pads their operands: for an odd shared dimension, one zero is
 * appended along it to both operands (PadV2 reads the inputs through bounds-checked samplers, so
 * the padded tensors hold only logical values and exact zeros); k + 1 is even, so no padding
 * channel is summed, and the products of the appended zeros add nothing, so the result is the
 * exact matMul of the logical values. Cost: one copy of each operand, only for odd k.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { processSingleton } from './process-singleton';

interface DisposingBackend {
  disposeData(dataId: object): boolean;
}

/** The webgl kernels this module wraps, and what each wrapper was built from. */
export interface WebglKernelFixesReport {
  /** Kernel name → 'wrapped' now, or 'already-installed' by an earlier call (any copy of natgrad). */
  kernels: Record<string, 'wrapped' | 'already-installed'>;
}

/** Every wrapper this module registered, with the stock kernel it wraps (tests compare the two). */
const installed = processSingleton('installedWebglKernels', () => new WeakMap<tf.KernelFunc, tf.KernelConfig>());

/** The stock tfjs kernel behind natgrad's wrapper of `name` on webgl, if wrapped (for tests). */
export function stockWebglKernel(name: string): tf.KernelConfig | undefined {
  const current = tf.getKernel(name, 'webgl');
  return current === undefined ? undefined : installed.get(current.kernelFunc);
}

type Pad = (x: tf.TensorInfo, axis: number) => tf.TensorInfo;

function padder(pad: tf.KernelFunc, backend: object): Pad {
  return (x, axis) => {
    const paddings = x.shape.map((_, i) => (i === axis ? [0, 1] : [0, 0]));
    return pad({ inputs: { x }, backend, attrs: { paddings, constantValue: 0 } }) as tf.TensorInfo;
  };
}

/**
 * Runs `inner` with the inputs named in `axes` padded by one zero along the given axis (counted
 * from the end when negative), when `odd` says the shared dimension is odd; else unchanged.
 */
function withPaddedInputs(
  inner: tf.KernelFunc,
  pad: tf.KernelFunc,
  plan: (inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap) => Record<string, number> | undefined,
): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const axes = plan(inputs, attrs ?? {});
    if (axes === undefined) return inner({ inputs, backend, attrs });
    const padAxis = padder(pad, backend);
    const padded: tf.TensorInfo[] = [];
    const next: tf.NamedTensorInfoMap = { ...inputs };
    try {
      for (const [name, axis] of Object.entries(axes)) {
        const x = inputs[name] as tf.TensorInfo;
        const p = padAxis(x, axis < 0 ? x.shape.length + axis : axis);
        padded.push(p);
        next[name] = p;
      }
      return inner({ inputs: next, backend, attrs });
    } finally {
      for (const p of padded) (backend as unknown as DisposingBackend).disposeData(p.dataId);
    }
  };
}

/** BatchMatMul and _FusedMatMul: the shared dimension of a (…, m, k) or (…, k, m) and b. */
function matMulPlan(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Record<string, number> | undefined {
  const a = inputs.a as tf.TensorInfo;
  const transposeA = attrs.transposeA === true;
  const transposeB = attrs.transposeB === true;
  const k = a.shape[a.shape.length + (transposeA ? -2 : -1)];
  if (k % 2 === 0) return undefined;
  return { a: transposeA ? -2 : -1, b: transposeB ? -1 : -2 };
}

/** Conv2D and FusedConv2D with a 1×1 filter (tfjs runs those as a matMul over the input channels). */
function conv1x1Plan(inputs: tf.NamedTensorInfoMap, attrs: tf.NamedAttrMap): Record<string, number> | undefined {
  const x = inputs.x as tf.TensorInfo;
  const filter = inputs.filter as tf.TensorInfo;
  if (attrs.dataFormat === 'NCHW') return undefined;
  const [h, w, inChannels] = filter.shape;
  if (h !== 1 || w !== 1 || inChannels % 2 === 0) return undefined;
  return { x: x.shape.length - 1, filter: 2 };
}

const PLANS = {
  BatchMatMul: matMulPlan,
  _FusedMatMul: matMulPlan,
  Conv2D: conv1x1Plan,
  FusedConv2D: conv1x1Plan,
} as const;

/**
 * The wrapper installWebglKernelFixes registers for `name` (one of the four above) around `inner`,
 * padding with `pad` (a PadV2 kernel); exported for tests, which run it on cpu kernels.
 */
export function evenSharedDimKernel(name: keyof typeof PLANS, inner: tf.KernelFunc, pad: tf.KernelFunc): tf.KernelFunc {
  return withPaddedInputs(inner, pad, PLANS[name]);
}

/**
 * Idempotent. Needs the webgl kernels registered (`import '@tensorflow/tfjs-backend-webgl'`, or
 * `@tensorflow/tfjs`); selectBackend calls it when it picks webgl, and an app that activates webgl
 * itself should call it once.
 */
export function installWebglKernelFixes(): WebglKernelFixesReport {
  const pad = tf.getKernel('PadV2', 'webgl');
  if (pad === undefined) {
    throw new NatgradError('BACKEND_UNAVAILABLE', 'The webgl backend is not loaded', {
      expected: 'the kernels of @tensorflow/tfjs-backend-webgl registered with tfjs',
      received: 'no webgl PadV2 kernel',
      fix: "add `import '@tensorflow/tfjs-backend-webgl'` (or '@tensorflow/tfjs') before calling installWebglKernelFixes, or use selectBackend({ prefer: 'webgl' })",
    });
  }
  const kernels: WebglKernelFixesReport['kernels'] = {};
  for (const [name, plan] of Object.entries(PLANS)) {
    const stock = tf.getKernel(name, 'webgl');
    if (stock === undefined) continue;
    if (installed.has(stock.kernelFunc)) {
      kernels[name] = 'already-installed';
      continue;
    }
    const kernelFunc = withPaddedInputs(stock.kernelFunc, pad.kernelFunc, plan);
    installed.set(kernelFunc, stock);
    tf.unregisterKernel(name, 'webgl');
    tf.registerKernel({ ...stock, kernelFunc });
    kernels[name] = 'wrapped';
  }
  return { kernels };
}
