/**
 * Estimates the memory a training run needs before anything is allocated, and refuses a run that
 * cannot fit the backend: a model too large for tfjs-wasm fails with "memory access out of bounds"
 * at its first allocation, and on the CPU backends it runs the host out of memory. The estimate is
 * the sum of four terms, each from the layer shapes (layer-shapes.ts):
 *   - parameters: (fanIn + 1) x fanOut floats per layer;
 *   - the other parameter-sized vectors alive at the step's peak (gradients, update-rule state and
 *     the temporaries of the update, FOP's half-batch gradients and directions);
 *   - curvature state: KFAC keeps (fanIn+1)^2 + fanOut^2 floats of statistics per layer, as many
 *     again of inverse cache, and a refresh holds a third copy; the diagonal Fisher two vectors;
 *   - activations at the batch: every layer's outputs with what the backward keeps beside them
 *     and, for a KFAC Conv2D layer, its im2col patches (positions x (fanIn+1)).
 * The multipliers were fitted to tf.profile's peak bytes of one step with an inverse refresh on
 * wasm (mlp widths 256-2048, cnn widths 16-64, resnet on CIFAR-10; sgd, adamw, kfac, fop,
 * diagonal, diagonal-fop; batches 64-1024): the estimate was 1.05-1.63x the measured peak in all
 * 13 cases, never below it. The fixes offered are computed from the same estimate, so each one is
 * a setting it accepts.
 */
import { totalmem } from 'node:os';
import { FlagError } from '../flags/flag-error';
import type { TrainConfig } from '../flags/train-flags';
import { type LayerShape, layerShapes, parameterCount } from './layer-shapes';

const FLOAT = 4;
const GIB = 1024 ** 3;

export interface MemoryEstimate {
  parameters: number;
  /** Bytes of each term and their sum. */
  parameterBytes: number;
  stepBytes: number;
  curvatureBytes: number;
  activationBytes: number;
  totalBytes: number;
}

type Training = Pick<TrainConfig, 'model' | 'width' | 'batch' | 'optimizer' | 'curvature' | 'projection' | 'momentum'>;

export function estimateTrainingMemory(config: Training, inputShape: [number, number, number], numClasses: number): MemoryEstimate {
  const layers = layerShapes(config.model, { inputShape, numClasses, width: config.width ?? undefined });
  const parameters = parameterCount(layers);
  // Parameter-sized vectors alive at the step's peak, measured with tf.profile on wasm (see the
  // module comment): about 11 for SGD (weights, gradients, momentum and the update's temporaries),
  // 11 more for AdamW's moments and their temporaries, 3 more with a curvature estimate, 14 more
  // for FOP (two half-batch gradients, their mean and difference, two preconditioned directions).
  const copies = 11 + (config.optimizer === 'adamw' ? 11 : 0) + (config.curvature === 'none' ? 0 : 3) + (config.projection === 'fop' ? 14 : 0);
  const curvature =
    config.curvature === 'kfac' ? 3 * layers.reduce((n, l) => n + (l.fanIn + 1) ** 2 + l.fanOut ** 2, 0) : config.curvature === 'diagonal' ? 2 * parameters : 0;
  // Outputs of every layer are kept for the backward pass, with their gradients and the
  // activation, pooling and residual layers between them: about 8 floats per output unit.
  const perExample = (l: LayerShape) => 8 * l.positions * l.fanOut + (config.curvature === 'kfac' && l.kind === 'conv2d' ? l.positions * (l.fanIn + 1) : 0);
  const activations = config.batch * (8 * inputShape[0] * inputShape[1] * inputShape[2] + layers.reduce((n, l) => n + perExample(l), 0));
  const parameterBytes = parameters * FLOAT;
  const stepBytes = (copies - 1) * parameters * FLOAT;
  const curvatureBytes = curvature * FLOAT;
  const activationBytes = activations * FLOAT;
  return { parameters, parameterBytes, stepBytes, curvatureBytes, activationBytes, totalBytes: parameterBytes + stepBytes + curvatureBytes + activationBytes };
}

/**
 * The bytes a backend can hold, with the reason, or null when natgrad cannot know it (a GPU's
 * memory is not visible from here; those backends report their own out-of-memory errors).
 */
export function backendMemoryLimit(backend: string, hostBytes = totalmem()): { bytes: number; reason: string } | null {
  switch (backend) {
    case 'wasm':
      return { bytes: 4 * GIB, reason: 'the 4 GiB heap limit of a 32-bit WebAssembly memory (tfjs-wasm)' };
    case 'cpu':
    case 'tensorflow':
      return { bytes: hostBytes / 2, reason: `half of this host's ${gib(hostBytes)} of memory (the ${backend} backend keeps tensors in host memory)` };
    default:
      return null;
  }
}

function gib(bytes: number): string {
  return bytes >= 0.1 * GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${Math.max(1, Math.round(bytes / 1024 ** 2))} MiB`;
}

/** The largest value of an integer knob in [lo, hi] for which fits() holds, or null when lo does not fit. */
function largestFitting(lo: number, hi: number, fits: (v: number) => boolean): number | null {
  if (!fits(lo)) return null;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (fits(mid)) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

/**
 * Throws a FlagError naming the flags to lower when the run's estimate exceeds what the backend
 * can hold; returns the estimate otherwise (also when the backend's limit is unknown).
 */
export function checkTrainingMemory(config: Training, inputShape: [number, number, number], numClasses: number, backend: string, hostBytes = totalmem()): MemoryEstimate {
  const estimate = estimateTrainingMemory(config, inputShape, numClasses);
  const limit = backendMemoryLimit(backend, hostBytes);
  if (limit === null || estimate.totalBytes <= limit.bytes) return estimate;

  const fits = (c: Training) => estimateTrainingMemory(c, inputShape, numClasses).totalBytes <= limit.bytes;
  const width = config.width ?? (config.model === 'mlp' ? 128 : 16);
  const maxWidth = largestFitting(2, width, (w) => fits({ ...config, width: w }));
  const maxBatch = largestFitting(2, config.batch, (b) => fits({ ...config, batch: b - (b % 2) || 2 }));
  const terms: [string, number, 'width' | 'batch'][] = [
    ['parameters', estimate.parameterBytes, 'width'],
    ['gradients and optimizer state', estimate.stepBytes, 'width'],
    [config.curvature === 'kfac' ? 'KFAC factors and inverses' : 'curvature state', estimate.curvatureBytes, 'width'],
    [`activations at batch ${config.batch}`, estimate.activationBytes, 'batch'],
  ];
  const largest = terms.reduce((a, b) => (b[1] > a[1] ? b : a));
  // Each fix is checked against the same estimate, so only changes that make the run fit are offered.
  const byWidth = maxWidth === null ? null : { flag: 'width', text: `--width ${maxWidth} or less` };
  const byBatch = maxBatch === null ? null : { flag: 'batch', text: `--batch ${maxBatch - (maxBatch % 2) || 2} or less` };
  const fixes = (largest[2] === 'batch' ? [byBatch, byWidth] : [byWidth, byBatch]).filter((f) => f !== null);
  if (config.curvature === 'kfac' && fits({ ...config, curvature: 'diagonal' })) fixes.push({ flag: 'curvature', text: '--curvature diagonal (no Kronecker factors)' });
  const flag = fixes[0]?.flag ?? 'model';
  const what = `--model ${config.model} --width ${width} --batch ${config.batch} with ${config.optimizer} (curvature ${config.curvature})`;
  throw new FlagError(
    'train',
    [
      {
        flag,
        message: `training would need about ${gib(estimate.totalBytes)}, more than the ${backend} backend can hold (${gib(limit.bytes)}); the largest part is ${largest[0]} (${gib(largest[1])})`,
        expected: `at most ${gib(limit.bytes)}: ${limit.reason}`,
        received: `about ${gib(estimate.totalBytes)} for ${what}: ${terms.map(([n, b]) => `${n} ${gib(b)}`).join(', ')} (${estimate.parameters.toLocaleString('en-US')} parameters)`,
        fix: fixes.length > 0 ? `pass ${fixes.map((f) => f.text).join(', or ')}` : 'use a smaller --model, or a GPU backend (--backend webgpu)',
      },
    ],
    `The run does not fit in the memory of the ${backend} backend.`,
  );
}
