/**
 * The op table of the convolution rewrites bound to one backend's registered kernels. Kernel
 * functions are called directly on TensorInfos, the way tfjs backends compose kernels, so nothing
 * is recorded on a gradient tape; every intermediate is released with backend.disposeData, which
 * respects the reference counts of kernels (Reshape, Identity) that share data.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import type { InputGradOps } from './conv2d-backprop-input';

interface DisposingBackend {
  disposeData(dataId: object): boolean;
}

export function kernelFunc(name: string, backendName: string): tf.KernelFunc {
  const config = tf.getKernel(name, backendName);
  if (config === undefined) {
    throw new NatgradError('UNSUPPORTED_BACKEND', `The ${backendName} backend has no ${name} kernel`, {
      expected: `a ${backendName} backend that registers ${name}`,
      received: `no ${name} kernel for ${backendName}`,
      fix: 'use @tensorflow/tfjs-backend-wasm of the version pinned in the workspace catalog (4.22.0)',
    });
  }
  return config.kernelFunc;
}

export function backendOps(backend: object, backendName: string): InputGradOps<tf.TensorInfo> {
  const call = (name: string, inputs: tf.NamedTensorInfoMap, attrs: Record<string, unknown>) =>
    kernelFunc(name, backendName)({ inputs, backend, attrs: attrs as unknown as tf.NamedAttrMap }) as tf.TensorInfo;
  return {
    shape: (x) => x.shape,
    transpose: (x, perm) => call('Transpose', { x }, { perm }),
    conv2d: (x, filter, strides, dilations, pad) =>
      call('Conv2D', { x, filter }, { strides, dilations, pad, dataFormat: 'NHWC', dimRoundingMode: undefined }),
    slice: (x, begin, size) => call('Slice', { x }, { begin, size }),
    reshape: (x, shape) => call('Reshape', { x }, { shape }),
    pad: (x, paddings) => call('PadV2', { x }, { paddings, constantValue: 0 }),
    reverse: (x, dims) => call('Reverse', { x }, { dims }),
    dispose: (x) => {
      (backend as DisposingBackend).disposeData(x.dataId);
    },
  };
}
