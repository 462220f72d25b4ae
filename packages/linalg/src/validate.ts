/**
 * Argument checks shared by every public entry point. Each bad input becomes a NatgradError with a
 * code, so a caller deep inside a training loop learns what was wrong and how to fix it instead of
 * getting NaNs a hundred steps later.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError, describeValue } from '@natgrad/core';

/** Checks that `a` is a float32 n×n tensor and returns n. */
export function squareSize(a: unknown, what: string): number {
  if (!(a instanceof tf.Tensor)) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: the matrix must be a tf.Tensor2D.`, {
      expected: 'a tf.Tensor2D',
      received: describeValue(a),
      fix: 'pass a square float32 tensor, e.g. tf.tensor2d(values, [n, n])',
    });
  }
  if (a.isDisposed) {
    throw new NatgradError('DISPOSED', `${what}: the matrix tensor was already disposed.`, {
      expected: 'a live tensor',
      received: 'a disposed tensor',
      fix: 'keep the tensor alive until the call returns (do not create it inside a tidy that has ended)',
    });
  }
  if (a.rank !== 2 || a.shape[0] !== a.shape[1] || a.shape[0] < 1) {
    throw new NatgradError('SHAPE_MISMATCH', `${what}: the matrix must be square.`, {
      expected: 'shape [n, n] with n ≥ 1',
      received: describeValue(a),
      fix: 'pass a square matrix such as a Kronecker factor Xᵀ X / batch',
    });
  }
  if (a.dtype !== 'float32') {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: the matrix must be float32.`, {
      expected: "dtype 'float32'",
      received: `dtype '${a.dtype}'`,
      fix: "cast it first: tf.cast(a, 'float32')",
    });
  }
  return a.shape[0];
}

export function checkDamping(damping: unknown, what: string): number {
  if (typeof damping !== 'number' || !Number.isFinite(damping) || damping < 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: damping must be a finite number ≥ 0.`, {
      expected: 'a finite damping λ ≥ 0',
      received: describeValue(damping),
      fix: 'pass the λ added to the diagonal (0 for none); a schedule must be evaluated first',
    });
  }
  return damping;
}

export function nonFinite(what: string, detail: string): NatgradError {
  return new NatgradError('NON_FINITE_INPUT', `${what}: the matrix has a non-finite entry.`, {
    expected: 'finite entries',
    received: detail,
    fix: 'check the statistics that produced the matrix (e.g. a diverged loss) before inverting',
  });
}

/**
 * Device-side finiteness test of one or more tensors that costs one scalar read: Σ a·0 is NaN iff
 * some entry is NaN or ±∞ (mul and sum exist on every backend, unlike isFinite on some). Awaited,
 * because a GPU backend (WebGPU in Node) cannot read synchronously.
 */
export async function assertFiniteDevice(tensors: tf.Tensor | readonly tf.Tensor[], what: string): Promise<void> {
  const list = tensors instanceof tf.Tensor ? [tensors] : tensors;
  const probe = tf.tidy(() => list.map((a) => tf.sum(tf.mul(a, 0))).reduce((s, p) => tf.add(s, p)));
  let v: number;
  try {
    v = (await probe.data())[0];
  } finally {
    probe.dispose();
  }
  if (!Number.isFinite(v)) throw nonFinite(what, 'NaN or ±Infinity somewhere in the tensor');
}

export function checkPositiveInteger(value: unknown, name: string, what: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: ${name} must be a positive integer.`, {
      expected: `a positive integer ${name}`,
      received: describeValue(value),
      fix: `omit ${name} for the default or pass e.g. 30`,
    });
  }
  return value;
}

export function checkPositiveNumber(value: unknown, name: string, what: string): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new NatgradError('INVALID_ARGUMENT', `${what}: ${name} must be a finite number > 0.`, {
      expected: `a finite ${name} > 0`,
      received: describeValue(value),
      fix: `omit ${name} for the default or pass e.g. 1e-6`,
    });
  }
  return value;
}

/** Reads a float32 matrix into a float64 array (awaited: GPU backends have no synchronous read). Call outside tf.tidy. */
export async function readHost(a: tf.Tensor): Promise<Float64Array> {
  return Float64Array.from((await a.data()) as Float32Array);
}

/**
 * Reads several float32 tensors in ONE device→host transfer (flattened and concatenated on the
 * device, split on the host): on a GPU every read is a round trip that stalls the queue, so two
 * operands cost one stall, not two. The values are the same float32 numbers as separate reads.
 */
export async function readHostMany(tensors: readonly tf.Tensor[]): Promise<Float64Array[]> {
  if (tensors.length === 1) return [await readHost(tensors[0])];
  const packed = tf.tidy(() => tf.concat(tensors.map((t) => tf.reshape(t, [-1]))));
  let flat: Float32Array;
  try {
    flat = (await packed.data()) as Float32Array;
  } finally {
    packed.dispose();
  }
  const out: Float64Array[] = [];
  let offset = 0;
  for (const t of tensors) {
    out.push(Float64Array.from(flat.subarray(offset, offset + t.size)));
    offset += t.size;
  }
  return out;
}

/** A float32 tensor from float64 host data (rounded once, here). */
export function fromHost(values: Float64Array, shape: [number, number]): tf.Tensor2D {
  return tf.tensor2d(Float32Array.from(values), shape, 'float32');
}
