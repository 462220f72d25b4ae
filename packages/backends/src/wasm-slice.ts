/**
 * Slice and SplitV kernels for the wasm backend that copy straight from the wasm heap.
 *
 * The stock kernels (tfjs-backend-wasm 4.22, kernels/Slice.ts) start with backend.readSync(x),
 * which copies the WHOLE input out of the heap before copying the slice back in, and SplitV calls
 * that slice once per piece. Splitting a [4096, 784] batch into FOP's two halves took 19-28 ms
 * that way (and a 2-D row slice 37 ms), against ~1 ms for the bytes that actually move
 * (docs/benchmarks.md). These kernels take a view of the heap instead (after allocating the output,
 * which may grow the heap and detach older views) and copy the same elements in the same order, so
 * the results are identical; strings keep the stock kernels.
 */
import * as tf from '@tensorflow/tfjs-core';

type Typed = Float32Array | Int32Array | Uint8Array;

interface WasmHeapBackend {
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Typed;
}

function isHeapBackend(backend: unknown): backend is WasmHeapBackend {
  const b = backend as Partial<WasmHeapBackend>;
  return typeof b.makeOutput === 'function' && typeof b.typedArrayFromHeap === 'function';
}

/** Copies the box [begin, begin + size) of x (row-major, shape xShape) into out, innermost runs at a time. */
function copyBox(xVals: Typed, xShape: number[], out: Typed, begin: number[], size: number[]): void {
  const rank = xShape.length;
  if (rank === 0) {
    out.set(xVals.subarray(0, 1));
    return;
  }
  const strides = tf.util.computeStrides(xShape);
  const run = size[rank - 1];
  const runs = size.slice(0, rank - 1).reduce((a, b) => a * b, 1);
  const index = new Array<number>(Math.max(rank - 1, 0)).fill(0);
  let outOffset = 0;
  for (let r = 0; r < runs; r++) {
    let xOffset = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) xOffset += (begin[d] + index[d]) * strides[d];
    out.set(xVals.subarray(xOffset, xOffset + run), outOffset);
    outOffset += run;
    // odometer over the leading dimensions
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
}

function heapSlice(x: tf.TensorInfo, begin: number[], size: number[], backend: WasmHeapBackend): tf.TensorInfo {
  const out = backend.makeOutput(size, x.dtype);
  if (size.some((s) => s === 0)) return out;
  // Views only after makeOutput: allocating may grow the heap and detach earlier views.
  const xVals = backend.typedArrayFromHeap(x);
  const outVals = backend.typedArrayFromHeap(out);
  if (tf.slice_util.isSliceContinous(x.shape, begin, size)) {
    const offset = tf.slice_util.computeFlatOffset(begin, tf.util.computeStrides(x.shape));
    outVals.set(xVals.subarray(offset, offset + tf.util.sizeFromShape(size)));
  } else {
    copyBox(xVals, x.shape, outVals, begin, size);
  }
  return out;
}

/** Wraps the stock wasm Slice kernel (kept for strings and unknown backends). */
export function heapSliceKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const x = (inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string' || !isHeapBackend(backend)) return stock(args);
    const { begin, size } = attrs as unknown as { begin: number | number[]; size?: number | number[] };
    const [begin_, size_] = tf.slice_util.parseSliceParams(x as unknown as tf.Tensor, begin, size);
    return heapSlice(x, begin_, size_, backend);
  };
}

/** Wraps the stock wasm SplitV kernel: one heap slice per piece. */
export function heapSplitVKernel(stock: tf.KernelFunc): tf.KernelFunc {
  return (args) => {
    const { inputs, attrs, backend } = args;
    const x = (inputs as { x: tf.TensorInfo }).x;
    if (x.dtype === 'string' || !isHeapBackend(backend)) return stock(args);
    const { numOrSizeSplits, axis } = attrs as unknown as { numOrSizeSplits: number | number[]; axis: number | number[] };
    const $axis = tf.util.parseAxisParam(axis, x.shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(x as unknown as tf.Tensor, numOrSizeSplits, $axis);
    const begin = new Array<number>(x.shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...x.shape];
      size[$axis] = s;
      const piece = heapSlice(x, [...begin], size, backend);
      begin[$axis] += s;
      return piece;
    });
  };
}
