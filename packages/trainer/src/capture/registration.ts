/**
 * Decides, for every layer of a model, whether it gets a Kronecker-factored curvature block
 * (Dense, and Conv2D channelsLast: registered with its LayerInfo) or not (skipped, with the reason
 * and its trainable variables, which still train with the plain gradient). Layers without
 * trainable variables (activations, pooling, dropout, reshapes, merges) have nothing to
 * precondition and are neither registered nor skipped; they simply run. Nothing is dropped
 * silently: every layer that owns trainable variables ends up in exactly one of the two lists.
 */
import { type Conv2DLayerInfo, type DenseLayerInfo, type LayerInfo, NatgradError, type SkippedLayer } from '@natgrad/core';
import type { LayerStep } from './graph';
import type { LayerView } from './tfjs-internals';

export type Registration = { kind: 'registered'; info: LayerInfo } | { kind: 'skipped'; skipped: SkippedLayer } | { kind: 'plain' };

/** Why common layer kinds have no KFAC block yet (kfac-jax / ASDL give some of them diagonal or unit-wise blocks). */
const UNSUPPORTED_REASONS: Record<string, string> = {
  DepthwiseConv2D: 'depthwise convolution (one filter per input channel) has no Kronecker-factored block in natgrad',
  SeparableConv2D: 'separable convolution (depthwise + pointwise kernels) has no Kronecker-factored block in natgrad',
  Conv1D: 'Conv1D has no curvature block in natgrad (only Conv2D is registered)',
  Conv3D: 'Conv3D has no curvature block in natgrad (only Conv2D is registered)',
  Conv2DTranspose: 'transposed convolution has no Kronecker-factored block in natgrad',
  Conv3DTranspose: 'transposed convolution has no Kronecker-factored block in natgrad',
  Embedding: 'embedding lookups need a diagonal input factor, which natgrad does not implement',
  LayerNormalization: 'scale-and-shift layer (LayerNormalization) has no Kronecker-factored block in natgrad',
  BatchNormalization: 'scale-and-shift layer (BatchNormalization) has no Kronecker-factored block in natgrad',
  PReLU: 'PReLU slopes have no curvature block in natgrad',
  LSTM: 'recurrent layers reuse their weights over time steps; no curvature block in natgrad',
  GRU: 'recurrent layers reuse their weights over time steps; no curvature block in natgrad',
  SimpleRNN: 'recurrent layers reuse their weights over time steps; no curvature block in natgrad',
};

function variableNames(layer: LayerView): string[] {
  return layer.trainableWeights.map((w) => w.read().name);
}

function skip(layer: LayerView, reason: string): Registration {
  return { kind: 'skipped', skipped: { name: layer.name, className: layer.getClassName(), reason, variables: variableNames(layer) } };
}

function pair(value: unknown): [number, number] | null {
  if (typeof value === 'number') return [value, value];
  if (Array.isArray(value) && value.length === 2 && value.every((v) => typeof v === 'number')) return [value[0], value[1]];
  return null;
}

function denseInfo(layer: LayerView): DenseLayerInfo {
  const kernel = layer.kernel as NonNullable<LayerView['kernel']>;
  return {
    kind: 'dense',
    name: layer.name,
    kernel: kernel.read().name,
    bias: layer.bias ? layer.bias.read().name : null,
    inputSize: kernel.shape[0],
    outputSize: kernel.shape[1],
  };
}

function conv2dInfo(layer: LayerView, step: LayerStep): Conv2DLayerInfo | string {
  const config = layer.getConfig();
  if (config.dataFormat !== undefined && config.dataFormat !== 'channelsLast') {
    return `Conv2D with dataFormat ${JSON.stringify(config.dataFormat)}: only channelsLast is registered`;
  }
  if (typeof config.groups === 'number' && config.groups > 1) return `grouped Conv2D (groups ${config.groups}) has no Kronecker-factored block`;
  const strides = pair(config.strides);
  const dilation = pair(config.dilationRate ?? 1);
  const padding = config.padding;
  if (!strides || !dilation) return 'Conv2D with unreadable strides / dilationRate configuration';
  if (padding !== 'same' && padding !== 'valid') return `Conv2D padding ${JSON.stringify(padding)} is not 'same' or 'valid'`;
  const kernel = layer.kernel as NonNullable<LayerView['kernel']>;
  const [kh, kw, cin, cout] = kernel.shape;
  const [, h, w] = step.inputShape;
  const [, oh, ow] = step.outputShape;
  if (step.inputShape.length !== 4 || h == null || w == null || oh == null || ow == null) {
    return 'Conv2D input height/width are not fixed in the model (null dimensions); factor geometry needs them';
  }
  // An empty image (0x0 data, or a kernel larger than its input) has nothing to convolve; say so
  // here, in the model's terms, rather than let the curvature refuse an "invalid geometry".
  if (h < 1 || w < 1 || oh < 1 || ow < 1) {
    throw new NatgradError('INVALID_ARGUMENT', `Conv2D layer "${layer.name}" has an empty input or output.`, {
      expected: `an input of at least 1x1 whose ${kh}x${kw} convolution yields at least 1x1`,
      received: `input ${h}x${w} -> output ${oh}x${ow}`,
      fix: 'check the model input shape against the data (image height and width); a 0x0 image has nothing to convolve',
    });
  }
  return {
    kind: 'conv2d',
    name: layer.name,
    kernel: kernel.read().name,
    bias: layer.bias ? layer.bias.read().name : null,
    kernelSize: [kh, kw],
    strides,
    dilation,
    padding,
    inChannels: cin,
    outChannels: cout,
    inputSize: [h, w],
    outputSize: [oh, ow],
  };
}

export function registerLayer(step: LayerStep, uses: number, skipNames: ReadonlySet<string>): Registration {
  const layer = step.layer;
  const className = layer.getClassName();
  const owns = layer.trainableWeights.length > 0;
  const candidate = className === 'Dense' || className === 'Conv2D';
  if (candidate && !layer.trainable) {
    return { kind: 'skipped', skipped: { name: layer.name, className, reason: 'frozen (trainable: false); it does not train', variables: [] } };
  }
  if (!owns) return { kind: 'plain' };
  if (skipNames.has(layer.name)) return skip(layer, 'left unregistered by the caller (options.skip)');
  if (!candidate) return skip(layer, UNSUPPORTED_REASONS[className] ?? `no curvature block for layer class ${className}`);
  if (uses > 1) return skip(layer, `shared layer applied ${uses} times in the graph; a KFAC block needs one application per layer`);
  if (!layer.kernel) return skip(layer, `${className} without a kernel variable`);
  if (className === 'Dense') return { kind: 'registered', info: denseInfo(layer) };
  const conv = conv2dInfo(layer, step);
  return typeof conv === 'string' ? skip(layer, conv) : { kind: 'registered', info: conv };
}
