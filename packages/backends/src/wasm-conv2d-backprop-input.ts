/**
 * A faster Conv2DBackpropInput for the wasm backend: wraps the stock kernel (a plain C++ loop) and
 * routes NHWC float32 calls through the transposed-convolution rewrite of conv2d-backprop-input.ts,
 * which runs on the backend's XNNPACK conv2d. Anything else (NCHW) goes to the stock kernel.
 */
import * as tf from '@tensorflow/tfjs-core';
import { backendOps } from './backend-kernel-ops';
import { inputGradient } from './conv2d-backprop-input';

export function conv2dBackpropInputKernel(stock: tf.KernelFunc, backendName: string): tf.KernelFunc {
  return (args) => {
    const { inputs, backend, attrs = {} } = args;
    const { dy, filter } = inputs as { dy: tf.TensorInfo; filter: tf.TensorInfo };
    const dataFormat = (attrs.dataFormat as string | undefined) ?? 'NHWC';
    if (dataFormat !== 'NHWC' || dy.dtype !== 'float32' || filter.dtype !== 'float32') return stock(args);
    const inputShape = attrs.inputShape as unknown as [number, number, number, number];
    const info = tf.backend_util.computeConv2DInfo(
      inputShape,
      filter.shape as [number, number, number, number],
      attrs.strides as unknown as [number, number],
      1,
      attrs.pad as unknown as 'same',
      attrs.dimRoundingMode as unknown as 'floor' | undefined,
    );
    // A dy that does not fit the geometry is the stock kernel's error to report, unchanged.
    if (info.outHeight !== dy.shape[1] || info.outWidth !== dy.shape[2] || info.outChannels !== dy.shape[3]) {
      return stock(args);
    }
    return inputGradient(backendOps(backend, backendName), dy, filter, {
      inputShape,
      strides: [info.strideHeight, info.strideWidth],
      pad: { top: info.padInfo.top, bottom: info.padInfo.bottom, left: info.padInfo.left, right: info.padInfo.right },
    });
  };
}
