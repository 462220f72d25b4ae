/**
 * A Conv2DBackpropFilter kernel for the wasm backend, which ships none (so tf.grad of a conv2d, and
 * every conv layer's training step, throws there). It runs the batch-as-channels rewrite of
 * conv2d-backprop-filter.ts on the wasm backend's own Transpose / Conv2D (XNNPACK) / Slice kernels,
 * calling their kernel functions directly on TensorInfos the way tfjs backends compose kernels, so
 * no op is recorded on a gradient tape and every intermediate is freed before returning.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { backendOps } from './backend-kernel-ops';
import { type FilterGradGeometry, filterGradient } from './conv2d-backprop-filter';

/** Geometry of the forward conv from the kernel's attrs, as tfjs itself would compute it. */
function geometryFromAttrs(
  xShape: readonly number[],
  dyShape: readonly number[],
  attrs: tf.NamedAttrMap,
): FilterGradGeometry {
  const filterShape = attrs.filterShape as unknown as [number, number, number, number];
  const dataFormat = ((attrs.dataFormat as string | undefined) ?? 'NHWC') as 'NHWC' | 'NCHW';
  if (dataFormat !== 'NHWC' && dataFormat !== 'NCHW') {
    throw new NatgradError('INVALID_ARGUMENT', 'Conv2DBackpropFilter got an unknown data format', {
      expected: "dataFormat 'NHWC' or 'NCHW'",
      received: JSON.stringify(dataFormat),
      fix: "pass dataFormat 'NHWC' (the tfjs default)",
    });
  }
  if (xShape.length !== 4 || dyShape.length !== 4 || filterShape?.length !== 4) {
    throw new NatgradError('SHAPE_MISMATCH', 'Conv2DBackpropFilter needs rank-4 x, dy and filterShape', {
      expected: 'x and dy of rank 4, filterShape of length 4',
      received: `x [${xShape}], dy [${dyShape}], filterShape [${filterShape}]`,
      fix: 'reshape rank-3 inputs to a batch of one before calling the kernel',
    });
  }
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape,
    attrs.strides as unknown as [number, number],
    1,
    attrs.pad as unknown as 'same',
    attrs.dimRoundingMode as unknown as 'floor' | undefined,
    false,
    tf.backend_util.convertConv2DDataFormat(dataFormat),
  );
  const dyHW = dataFormat === 'NCHW' ? [dyShape[2], dyShape[3]] : [dyShape[1], dyShape[2]];
  if (info.outHeight !== dyHW[0] || info.outWidth !== dyHW[1] || info.outChannels !== filterShape[3]) {
    throw new NatgradError('SHAPE_MISMATCH', 'Conv2DBackpropFilter: dy does not match the convolution output', {
      expected: `dy spatial ${info.outHeight}x${info.outWidth} with ${filterShape[3]} channels`,
      received: `dy [${dyShape}]`,
      fix: 'pass the gradient of this convolution output, with the same strides and padding as the forward pass',
    });
  }
  return {
    filterShape,
    strides: [info.strideHeight, info.strideWidth],
    dilations: [1, 1],
    pad: { top: info.padInfo.top, bottom: info.padInfo.bottom, left: info.padInfo.left, right: info.padInfo.right },
    dataFormat,
  };
}

/** Kernel function for tf.registerKernel; works on any backend whose Transpose/Conv2D/Slice exist. */
export function conv2dBackpropFilterKernel(backendName: string): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const { x, dy } = inputs as { x: tf.TensorInfo; dy: tf.TensorInfo };
    if (x.dtype !== 'float32' || dy.dtype !== 'float32') {
      throw new NatgradError('INVALID_ARGUMENT', 'Conv2DBackpropFilter supports float32 only', {
        expected: 'float32 x and dy',
        received: `x ${x.dtype}, dy ${dy.dtype}`,
        fix: 'cast the inputs with tf.cast(t, "float32")',
      });
    }
    const geometry = geometryFromAttrs(x.shape, dy.shape, attrs ?? {});
    return filterGradient(backendOps(backend, backendName), x, dy, geometry);
  };
}
