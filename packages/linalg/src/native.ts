/**
 * Native TensorFlow kernels through tfjs-node's backend (name 'tensorflow'), which can execute any
 * TensorFlow op by name: NodeJSKernelBackend.executeSingleOutput(name, attrs, inputs) and
 * executeMultipleOutputs(name, attrs, inputs, count), attributes typed by the constants on
 * `backend.binding` (tfjs-node/src/nodejs_kernel_backend.ts). Feature-detected at run time because
 * tfjs-node is an optional, platform-specific install. Ops used: Cholesky, MatrixTriangularSolve
 * (inverse and solves from the Cholesky factor: half the flops of MatrixInverse's LU, and the SPD test
 * for free) and SelfAdjointEigV2. NOTE: verified here only against a fake backend that implements the
 * same calling convention (native.test.ts); tfjs-node cannot be installed in this workspace.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';

export interface NativeOpAttr {
  name: string;
  type: number;
  value: unknown;
}

/** The part of tfjs-node's NodeJSKernelBackend this module calls. */
export interface NativeOpBackend {
  executeSingleOutput(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[]): tf.Tensor;
  executeMultipleOutputs(name: string, attrs: NativeOpAttr[], inputs: tf.Tensor[], numOutputs: number): tf.Tensor[];
  binding: { TF_ATTR_TYPE: number; TF_ATTR_BOOL: number; TF_FLOAT: number };
}

/** The active backend when it can execute TensorFlow ops by name, else null. */
export function detectNativeBackend(backend: unknown = tf.backend()): NativeOpBackend | null {
  const b = backend as Partial<NativeOpBackend> | null;
  if (b === null || typeof b !== 'object') return null;
  if (typeof b.executeSingleOutput !== 'function' || typeof b.executeMultipleOutputs !== 'function') return null;
  const binding = b.binding as Partial<NativeOpBackend['binding']> | undefined;
  if (!binding || typeof binding.TF_ATTR_TYPE !== 'number' || typeof binding.TF_ATTR_BOOL !== 'number' || typeof binding.TF_FLOAT !== 'number') {
    return null;
  }
  return b as NativeOpBackend;
}

export function requireNativeBackend(what: string): NativeOpBackend {
  const native = detectNativeBackend();
  if (native === null) {
    throw new NatgradError('BACKEND_UNAVAILABLE', `${what}: method 'native' needs the tfjs-node backend.`, {
      expected: "the 'tensorflow' backend (tfjs-node), which executes TensorFlow ops by name",
      received: `backend '${tf.getBackend()}' without executeSingleOutput/executeMultipleOutputs`,
      fix: "install and import '@tensorflow/tfjs-node' and call tf.setBackend('tensorflow'), or use method 'auto'",
    });
  }
  return native;
}

const typeAttr = (b: NativeOpBackend): NativeOpAttr => ({ name: 'T', type: b.binding.TF_ATTR_TYPE, value: b.binding.TF_FLOAT });
const boolAttr = (b: NativeOpBackend, name: string, value: boolean): NativeOpAttr => ({ name, type: b.binding.TF_ATTR_BOOL, value });

function wrapNativeError(what: string, error: unknown): NatgradError {
  if (error instanceof NatgradError) return error;
  const message = error instanceof Error ? error.message : String(error);
  // TensorFlow's CPU Cholesky kernel raises InvalidArgument on a non-positive pivot.
  const notSpd = /cholesky|positive|invertible/i.test(message);
  return new NatgradError(notSpd ? 'NOT_POSITIVE_DEFINITE' : 'BACKEND_UNAVAILABLE', `${what}: the native TensorFlow op failed.`, {
    expected: notSpd ? 'a symmetric positive definite A + λI' : 'the TensorFlow op to execute',
    received: message,
    fix: notSpd ? 'increase the damping' : "use method 'host' or 'blocked'",
    cause: error,
  });
}

/** Reads the diagonal of L (disposing L on failure): TensorFlow's GPU Cholesky reports failure as NaN instead of throwing. */
async function assertFactorFinite(l: tf.Tensor2D, what: string): Promise<void> {
  const probe = tf.tidy(() => tf.sum(tf.linalg.bandPart(l, 0, 0)));
  let v: number;
  try {
    v = (await probe.data())[0];
  } catch (error) {
    l.dispose();
    throw error;
  } finally {
    probe.dispose();
  }
  if (!Number.isFinite(v)) {
    l.dispose();
    throw new NatgradError('NOT_POSITIVE_DEFINITE', `${what}: A + λI is not positive definite.`, {
      expected: 'a finite Cholesky factor',
      received: 'NaN on the diagonal of the native Cholesky factor',
      fix: 'increase the damping',
    });
  }
}

/** Lower Cholesky factor of the SPD `m` (symmetrised, damped). Caller owns the result. */
export async function nativeCholesky(b: NativeOpBackend, m: tf.Tensor2D, what = 'nativeCholesky'): Promise<tf.Tensor2D> {
  let l: tf.Tensor2D;
  try {
    l = b.executeSingleOutput('Cholesky', [typeAttr(b)], [m]) as tf.Tensor2D;
  } catch (error) {
    throw wrapNativeError(what, error);
  }
  await assertFactorFinite(l, what);
  return l;
}

/** (L Lᵀ)⁻¹ B by two triangular solves. */
export function nativeCholeskySolve(b: NativeOpBackend, l: tf.Tensor2D, rhs: tf.Tensor2D, what = 'nativeCholeskySolve'): tf.Tensor2D {
  try {
    const y = b.executeSingleOutput('MatrixTriangularSolve', [boolAttr(b, 'lower', true), boolAttr(b, 'adjoint', false), typeAttr(b)], [l, rhs]);
    try {
      return b.executeSingleOutput('MatrixTriangularSolve', [boolAttr(b, 'lower', true), boolAttr(b, 'adjoint', true), typeAttr(b)], [l, y]) as tf.Tensor2D;
    } finally {
      y.dispose();
    }
  } catch (error) {
    throw wrapNativeError(what, error);
  }
}

export async function nativeSpdInverse(b: NativeOpBackend, m: tf.Tensor2D): Promise<tf.Tensor2D> {
  const l = await nativeCholesky(b, m, 'nativeSpdInverse');
  const eye = tf.eye(m.shape[0]) as tf.Tensor2D;
  try {
    const x = nativeCholeskySolve(b, l, eye, 'nativeSpdInverse');
    const sym = tf.tidy(() => tf.mul(tf.add(x, tf.transpose(x)), 0.5) as tf.Tensor2D);
    x.dispose();
    return sym;
  } finally {
    l.dispose();
    eye.dispose();
  }
}

/** Ascending eigenvalues and eigenvectors (columns) of the symmetric `m`, unclipped. */
export function nativeEigh(b: NativeOpBackend, m: tf.Tensor2D): { values: tf.Tensor1D; vectors: tf.Tensor2D } {
  try {
    const [values, vectors] = b.executeMultipleOutputs('SelfAdjointEigV2', [boolAttr(b, 'compute_v', true), typeAttr(b)], [m], 2);
    return { values: values as tf.Tensor1D, vectors: vectors as tf.Tensor2D };
  } catch (error) {
    throw wrapNativeError('nativeEigh', error);
  }
}
