/**
 * Checks a layer capture against its LayerInfo before any statistics are computed: a capture from
 * another model, a transposed tensor or a wrong batch size would otherwise produce plausible but
 * wrong factors. Host-side shape checks only.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type CurvatureBatch, type LayerCapture, type LayerInfo, NatgradError, describeValue } from '@natgrad/core';
import { sameShape } from './param-map';
import { convGeometry } from '../kfac/patches';

export function checkBatchSize(owner: string, batch: CurvatureBatch): number {
  const n = batch?.batchSize;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1) {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}.updateStatistics: invalid batchSize.`, {
      expected: 'a positive integer: the number of examples the captures were computed on',
      received: describeValue(n),
      fix: 'set CurvatureBatch.batchSize to the (sub-)batch size of the backward pass',
    });
  }
  return n;
}

function shapeError(owner: string, layer: LayerInfo, what: string, expected: string, received: unknown, fix: string) {
  return new NatgradError('SHAPE_MISMATCH', `${owner}: capture of layer "${layer.name}" has a wrong ${what}.`, {
    expected,
    received: describeValue(received),
    fix,
  });
}

export function getCapture(owner: string, batch: CurvatureBatch, layer: LayerInfo): LayerCapture {
  const capture = batch.captures?.[layer.name];
  if (capture === undefined || capture.input === undefined || capture.outputGrad === undefined) {
    throw new NatgradError('INVALID_ARGUMENT', `${owner}.updateStatistics: no capture for layer "${layer.name}".`, {
      expected: `captures["${layer.name}"] with input and outputGrad (every registered layer)`,
      received: `capture keys [${Object.keys(batch.captures ?? {}).join(', ')}]`,
      fix: 'run the capture with capture enabled on statistics steps, for the same layers passed to init()',
    });
  }
  for (const t of [capture.input, capture.outputGrad]) {
    if (t.isDisposed) {
      throw new NatgradError('DISPOSED', `${owner}: a capture tensor of layer "${layer.name}" is disposed.`, {
        expected: 'live capture tensors',
        received: 'a disposed tensor',
        fix: 'dispose captures only after updateStatistics returns',
      });
    }
  }
  checkCapture(owner, layer, capture, batch.batchSize);
  return capture;
}

/** The optional transposed Dense tensors: live, float32, exactly [features, rows]. */
function checkTransposed(owner: string, layer: LayerInfo, key: string, t: tf.Tensor | undefined, shape: number[]): void {
  if (t === undefined) return;
  if (!(t instanceof tf.Tensor) || t.isDisposed || t.dtype !== 'float32' || !sameShape(t.shape, shape)) {
    throw shapeError(owner, layer, key, `a live float32 tensor [${shape.join(', ')}] (the 2-D rows transposed)`, t, `pass the transpose of the capture's rows, or leave ${key} undefined`);
  }
}

export function checkCapture(owner: string, layer: LayerInfo, capture: LayerCapture, batchSize: number): void {
  const { input, outputGrad } = capture;
  if (layer.kind === 'dense') {
    if (input.rank < 2 || input.shape[input.rank - 1] !== layer.inputSize) {
      throw shapeError(owner, layer, 'input', `[rows, ${layer.inputSize}]`, input, 'capture the input of this Dense layer');
    }
    const rows = input.size / layer.inputSize;
    if (outputGrad.rank < 2 || outputGrad.shape[outputGrad.rank - 1] !== layer.outputSize || outputGrad.size / layer.outputSize !== rows) {
      throw shapeError(owner, layer, 'outputGrad', `[${rows}, ${layer.outputSize}]`, outputGrad, 'capture d(loss)/d(pre-activation) of this layer');
    }
    if (rows % batchSize !== 0) {
      throw shapeError(owner, layer, 'row count', `a multiple of batchSize ${batchSize}`, rows, 'set batchSize to the number of examples');
    }
    checkTransposed(owner, layer, 'inputTransposed', capture.inputTransposed, [layer.inputSize, rows]);
    checkTransposed(owner, layer, 'outputGradTransposed', capture.outputGradTransposed, [layer.outputSize, rows]);
    return;
  }
  for (const key of ['inputTransposed', 'outputGradTransposed'] as const) {
    if (capture[key] !== undefined) {
      throw shapeError(owner, layer, key, 'no transposed tensor (defined for Dense captures only)', capture[key], `leave ${key} undefined for Conv2D layers`);
    }
  }
  const [h, w] = layer.inputSize;
  const { outHeight, outWidth } = convGeometry(layer);
  if (!sameShape(input.shape, [batchSize, h, w, layer.inChannels])) {
    throw shapeError(owner, layer, 'input', `[${batchSize}, ${h}, ${w}, ${layer.inChannels}] (NHWC, before padding)`, input, 'capture the unpadded NHWC input of this Conv2D layer');
  }
  if (!sameShape(outputGrad.shape, [batchSize, outHeight, outWidth, layer.outChannels])) {
    throw shapeError(owner, layer, 'outputGrad', `[${batchSize}, ${outHeight}, ${outWidth}, ${layer.outChannels}]`, outputGrad, 'capture d(loss)/d(pre-activation) of this layer');
  }
}
