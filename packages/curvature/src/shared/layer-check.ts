/**
 * Validation of the LayerInfos (and their variables) an estimator is initialised with. A wrong
 * geometry would make patch extraction disagree with the model's convolution without any error, so
 * the declared output size is recomputed from the geometry here.
 */
import type * as tf from '@tensorflow/tfjs-core';
import { type LayerInfo, NatgradError, describeValue } from '@natgrad/core';
import { kernelShape, outSize } from './block-matrix';
import { sameShape } from './param-map';
import { convGeometry } from '../kfac/patches';

function posInt(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1;
}

function bad(owner: string, layer: LayerInfo, what: string, expected: string, received: unknown, fix: string) {
  return new NatgradError('INVALID_ARGUMENT', `${owner}.init: layer "${layer?.name}" has an invalid ${what}.`, {
    expected,
    received: describeValue(received),
    fix,
  });
}

export function checkLayers(owner: string, layers: readonly LayerInfo[], variables: Record<string, tf.Variable>): void {
  if (!Array.isArray(layers) || layers.length === 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}.init: no layers.`, {
      expected: 'at least one Dense or Conv2D LayerInfo',
      received: describeValue(layers),
      fix: "pass the layers registered by the capture; a model without Dense/Conv2D layers trains with the empirical diagonal Fisher, which needs no layers: diagonal({ mode: 'empirical' }) (the @natgrad/trainer preset, or the estimator of @natgrad/curvature), or with sgd()/adamw()",
    });
  }
  if (variables === null || typeof variables !== 'object') {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}.init: no variables.`, {
      expected: "the model's trainable variables keyed by name",
      received: describeValue(variables),
      fix: 'pass Object.fromEntries(model.trainableWeights.map((w) => [w.name, w.read()]))-style variables',
    });
  }
  const seen = new Set<string>();
  for (const layer of layers) {
    if (layer === null || typeof layer !== 'object' || typeof layer.name !== 'string') {
      throw new NatgradError('INVALID_ARGUMENT', `${owner}.init: not a LayerInfo.`, {
        expected: 'a DenseLayerInfo or Conv2DLayerInfo',
        received: describeValue(layer),
        fix: 'pass the layers reported by the capture',
      });
    }
    if (seen.has(layer.name)) {
      throw bad(owner, layer, 'name', 'unique layer names', layer.name, 'register each layer once');
    }
    seen.add(layer.name);
    if (layer.kind === 'dense') {
      if (!posInt(layer.inputSize) || !posInt(layer.outputSize)) {
        throw bad(owner, layer, 'size', 'positive integer inputSize and outputSize', [layer.inputSize, layer.outputSize], 'describe the Dense layer by its kernel shape');
      }
    } else if (layer.kind === 'conv2d') {
      const pairs = [layer.kernelSize, layer.strides, layer.dilation, layer.inputSize];
      if (!pairs.every((p) => Array.isArray(p) && p.length === 2 && p.every(posInt)) || !posInt(layer.inChannels) || !posInt(layer.outChannels)) {
        throw bad(owner, layer, 'geometry', 'positive integer pairs kernelSize, strides, dilation, inputSize and channel counts', layer, 'describe the Conv2D layer as tfjs-layers does');
      }
      if (layer.padding !== 'same' && layer.padding !== 'valid') {
        throw bad(owner, layer, 'padding', "'same' or 'valid'", layer.padding, "only 'same' and 'valid' padding are supported");
      }
      const { outHeight, outWidth } = convGeometry(layer);
      if (!Array.isArray(layer.outputSize) || !sameShape(layer.outputSize, [outHeight, outWidth]) || outHeight < 1 || outWidth < 1) {
        throw bad(owner, layer, 'outputSize', `[${outHeight}, ${outWidth}] (from input size, kernel, strides, dilation, padding)`, layer.outputSize, 'check the layer geometry: it disagrees with TensorFlow\'s convolution arithmetic');
      }
    } else {
      throw new NatgradError('UNSUPPORTED_LAYER', `${owner}.init: layer "${layer.name}" has an unsupported kind.`, {
        expected: "kind 'dense' or 'conv2d'",
        received: describeValue((layer as { kind?: unknown }).kind),
        fix: 'leave other layers to the plain gradient (the capture reports them as skipped)',
      });
    }
    const expectVar = (name: string | null, shape: number[], what: string) => {
      if (name === null) return;
      const v = variables[name];
      if (v === undefined) {
        throw new NatgradError('INVALID_ARGUMENT', `${owner}.init: the ${what} variable of layer "${layer.name}" is missing.`, {
          expected: `variables["${name}"]`,
          received: `variable keys [${Object.keys(variables).slice(0, 8).join(', ')}${Object.keys(variables).length > 8 ? ', ...' : ''}]`,
          fix: "pass the model's trainable variables keyed by their name",
        });
      }
      if (!sameShape(v.shape, shape)) {
        throw new NatgradError('SHAPE_MISMATCH', `${owner}.init: the ${what} of layer "${layer.name}" does not match its LayerInfo.`, {
          expected: `shape [${shape.join(',')}]`,
          received: describeValue(v),
          fix: 'describe the layer from the same model whose variables are passed',
        });
      }
    };
    expectVar(layer.kernel, kernelShape(layer), 'kernel');
    expectVar(layer.bias, [outSize(layer)], 'bias');
  }
}
