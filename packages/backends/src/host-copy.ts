/**
 * A float32 tensor's values as a new host array that the caller may transfer to another thread.
 *
 * Why not just dataSync(): on the cpu backend it returns the tensor's own storage (transferring it
 * would detach the tensor), and on wasm it costs ~40 ms for 3.2M floats where copying the same bytes
 * out of the wasm heap takes ~1.5 ms (measured, tfjs 4.22, docs/benchmarks.md). The heap view is
 * used only when the wasm backend exposes the fields it needs; anything else falls back to a copy
 * of dataSync().
 *
 * Synchronous on purpose, and only for backends with host storage: the statistics worker copies
 * its inputs here (and its thread reads its own cpu/wasm tensors with dataSync), and natgrad's
 * estimators refuse a worker on any other backend (UNSUPPORTED_BACKEND), so these reads never
 * meet WebGPU, where dataSync throws in Node. test/no-sync-reads.test.ts lists them as allowed.
 */
import * as tf from '@tensorflow/tfjs-core';

interface WasmBackendInternals {
  wasm?: { HEAPU8?: Uint8Array };
  dataIdMap?: { get(dataId: object): { memoryOffset?: number } | undefined };
}

export function copyToHost(t: tf.Tensor): Float32Array {
  return copyIntoHost(t, new Float32Array(t.size));
}

/**
 * Writes a float32 tensor's values into `target` (length >= t.size; e.g. a view of a reused
 * SharedArrayBuffer, which spares the garbage collector a large allocation per call) and returns
 * the filled view of t.size entries.
 */
export function copyIntoHost(t: tf.Tensor, target: Float32Array): Float32Array {
  if (target.length < t.size) throw new RangeError(`copyIntoHost: target has ${target.length} entries, the tensor ${t.size}`);
  const out = target.length === t.size ? target : target.subarray(0, t.size);
  if (tf.getBackend() === 'wasm') {
    const backend = tf.backend() as unknown as WasmBackendInternals;
    const heap = backend.wasm?.HEAPU8;
    const offset = backend.dataIdMap?.get(t.dataId)?.memoryOffset;
    // Offset 0 is also what an unallocated tensor reports: take the safe path there.
    if (heap !== undefined && typeof offset === 'number' && offset > 0 && offset + 4 * t.size <= heap.byteLength) {
      out.set(new Float32Array(heap.buffer, heap.byteOffset + offset, t.size));
      return out;
    }
  }
  out.set(t.dataSync());
  return out;
}
