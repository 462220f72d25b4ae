/**
 * Descriptions of the layers that carry a curvature block. They are plain data, derived from a
 * tf.LayersModel by the trainer's layer capture, and are all an estimator needs to size its
 * factors and to interpret captured activations (e.g. the conv geometry for patch extraction).
 */

export type LayerKind = 'dense' | 'conv2d';

export interface LayerInfoBase {
  /** The tfjs layer name (unique inside a model). */
  name: string;
  /** Name of the kernel variable, the key of its gradient in a ParamMap. */
  kernel: string;
  /** Name of the bias variable, or null for a layer built with useBias: false. */
  bias: string | null;
}

/** Dense: y = a W (+ b); W has shape [inputSize, outputSize]. */
export interface DenseLayerInfo extends LayerInfoBase {
  kind: 'dense';
  inputSize: number;
  outputSize: number;
}

/** Conv2D, channelsLast, kernel [kh, kw, inChannels, outChannels]. */
export interface Conv2DLayerInfo extends LayerInfoBase {
  kind: 'conv2d';
  kernelSize: [number, number];
  strides: [number, number];
  dilation: [number, number];
  padding: 'same' | 'valid';
  inChannels: number;
  outChannels: number;
  /** [height, width] of the layer input. */
  inputSize: [number, number];
  /** [height, width] of the layer output. */
  outputSize: [number, number];
}

export type LayerInfo = DenseLayerInfo | Conv2DLayerInfo;

/** A layer that the capture did not register, with the reason (never silently dropped). */
export interface SkippedLayer {
  name: string;
  className: string;
  reason: string;
  /** Its trainable variables: they still train, with the plain (mean) gradient. */
  variables: string[];
}

/** Rows (input side, bias-augmented) and columns (output side) of a layer's KFAC factors. */
export function factorSizes(layer: LayerInfo): { a: number; g: number } {
  const biasRow = layer.bias === null ? 0 : 1;
  if (layer.kind === 'dense') return { a: layer.inputSize + biasRow, g: layer.outputSize };
  return { a: layer.kernelSize[0] * layer.kernelSize[1] * layer.inChannels + biasRow, g: layer.outChannels };
}
