/**
 * The diagonal of the Fisher of a Dense or Conv2D layer from per-example gradient products, without
 * materialising per-example gradients where it can be avoided (Dangel, Kunstner & Hennig 2020,
 * BackPACK, "DiagGGN-MC / batch-grad" extensions, sec. 2; Goodfellow 2015 for the Dense trick).
 *
 * With g_{n,t} = N * outputGrad (the per-example output gradient, outputGrad being of the MEAN loss)
 * and a_{n,t} the input row / patch at location t:
 *   per-example kernel gradient   dW_n = sum_t a_{n,t} g_{n,t}^T,   bias gradient db_n = sum_t g_{n,t}
 *   diag F = 1/N sum_n dW_n^2 (elementwise)
 * - Dense, one row per example: dW_n^2 = a_n^2 (x) g_n^2, so diag F = N * (a^2)^T (outputGrad^2): ONE
 *   matMul of squares, no per-example tensor.
 * - Conv2D (and Dense with extra leading dims): the location sum does not factor through the square,
 *   so dW_n is formed by a batched matMul [N, P, out], in chunks of examples to bound the memory.
 */
import * as tf from '@tensorflow/tfjs-core';
import { type LayerCapture, type LayerInfo, sumTensors } from '@natgrad/core';
import { inputRows, outputRows, toKernelOrder } from '../kfac/factors';
import { matMulTransposeA } from '../shared/matmul';
import { kernelShape, outSize } from '../shared/block-matrix';

/** Upper bound on the floats of one chunk of per-example gradients (64 MiB of float32). */
const CHUNK_FLOATS = 1 << 24;

/**
 * diag F for the kernel (kernel-shaped) and bias ([out]) of one layer. The caller owns the result.
 * `chunkFloats` bounds the floats of one chunk of per-example gradients (tests lower it to sum
 * many chunks).
 */
export function fisherDiagonal(
  layer: LayerInfo,
  capture: LayerCapture,
  batchSize: number,
  chunkFloats = CHUNK_FLOATS,
): { kernel: tf.Tensor; bias?: tf.Tensor } {
  return tf.tidy(() => {
    const x = inputRows(layer, capture.input);
    const og = outputRows(layer, capture.outputGrad);
    const out = outSize(layer);
    const rowsPerExample = x.shape[0] / batchSize;
    let kernel: tf.Tensor;
    let bias: tf.Tensor | undefined;
    if (rowsPerExample === 1) {
      kernel = tf.mul(matMulTransposeA(tf.square(x), tf.square(og)), batchSize);
      bias = layer.bias === null ? undefined : tf.mul(tf.sum(tf.square(og), 0), batchSize);
    } else {
      const p = x.shape[1];
      const x3 = tf.reshape(x, [batchSize, rowsPerExample, p]) as tf.Tensor3D;
      const g3 = tf.reshape(og, [batchSize, rowsPerExample, out]) as tf.Tensor3D;
      const chunk = Math.max(1, Math.floor(chunkFloats / (p * out)));
      const parts: tf.Tensor[] = [];
      for (let start = 0; start < batchSize; start += chunk) {
        const size = Math.min(chunk, batchSize - start);
        parts.push(
          tf.tidy(() => {
            const xs = tf.slice(x3, [start, 0, 0], [size, rowsPerExample, p]);
            const gs = tf.slice(g3, [start, 0, 0], [size, rowsPerExample, out]);
            return tf.sum(tf.square(matMulTransposeA(xs, gs)), 0);
          }),
        );
      }
      // sumTensors, not tf.addN: 8 or more chunks exceed WebGPU's 8 storage buffers per shader stage.
      kernel = tf.mul(parts.length === 1 ? parts[0] : sumTensors(parts), batchSize);
      bias = layer.bias === null ? undefined : tf.mul(tf.sum(tf.square(tf.sum(g3, 1)), 0), batchSize);
    }
    // Rows of a conv's statistic are channel-major (see patches.ts); the variable is in kernel order.
    kernel = tf.reshape(toKernelOrder(layer, kernel, [0]), kernelShape(layer));
    return bias === undefined ? { kernel } : { kernel, bias };
  });
}
