/**
 * The Dense pre-activation of a capture pass as ONE differentiable op (tf.customGrad) whose
 * backward forms the transposes it needs once and hands them to the curvature statistics. For
 * pre = x W + b the backward is dx = dy Wᵀ, dW = xᵀ dy, db = Σ_rows dy (the textbook products, as in
 * @natgrad/backends' explicit-transpose matMul gradient). On the wasm backend a Transpose of a
 * [4096, 785] activation costs ~85 ms, and KFAC's factors A = xᵀx and G = N dyᵀdy (Martens & Grosse
 * 2015, eq. 1) need exactly xᵀ and dyᵀ again; wasm's Sum over axis 0 also transposes dy internally.
 * So the op keeps xᵀ (from dW) and dyᵀ (from db = row sums of dyᵀ, the same reduction the Sum kernel
 * runs after its own transpose) as LayerCapture.inputTransposed / outputGradTransposed.
 *
 * Only the gradients the pass asks for are formed: customGrad computes every input's gradient
 * eagerly, so a tensor whose gradient is not needed (the model input, the kernel in the
 * sampled-Fisher pass) is closed over instead of passed as an input, and its product is skipped
 * exactly as the tape would have pruned it. Used on the backends that transpose explicitly (wasm,
 * cpu); the values equal the plain path's kernel for kernel.
 */
import * as tf from '../tf';

/** What the capture keeps from one backward; every tensor is kept (tf.keep) and owned by the receiver. */
export interface DenseBackwardRecord {
  outputGrad: tf.Tensor;
  inputTransposed: tf.Tensor | null;
  outputGradTransposed: tf.Tensor | null;
}

export interface DenseCaptureSpec {
  /** Differentiate with respect to the input rows (false when they are constants, e.g. the model input). */
  inputGrad: boolean;
  /** Differentiate with respect to the kernel (forms xᵀ). */
  kernelGrad: boolean;
  /** Differentiate with respect to the bias (forms dyᵀ); ignored without a bias. */
  biasGrad: boolean;
  /** Receives the kept tensors of each backward run. */
  record: (r: DenseBackwardRecord) => void;
}

/** pre = rows · kernel (+ bias) with the capturing backward described in the module header. */
export function denseCaptureOp(rows: tf.Tensor2D, kernel: tf.Tensor2D, bias: tf.Tensor | null, spec: DenseCaptureSpec): tf.Tensor2D {
  const useBias = bias !== null && spec.biasGrad;
  const inputs: tf.Tensor[] = [];
  if (spec.inputGrad) inputs.push(rows);
  if (spec.kernelGrad) inputs.push(kernel);
  if (useBias) inputs.push(bias as tf.Tensor);
  const op = tf.customGrad((...args) => {
    const linear = tf.matMul(rows, kernel);
    const value = bias === null ? linear : tf.add(linear, bias);
    // The graph may dispose an intermediate activation before the backward runs, so the operands
    // the backward reads are saved (kept copies, as the engine saves a registered kernel's inputs).
    const save = args[args.length - 1] as unknown as (tensors: tf.Tensor[]) => void;
    const toSave: tf.Tensor[] = [];
    if (spec.kernelGrad) toSave.push(rows);
    if (spec.inputGrad) toSave.push(kernel);
    save(toSave);
    return {
      value,
      gradFunc: (dy: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const g = dy as tf.Tensor2D;
        const savedRows = spec.kernelGrad ? (saved[0] as tf.Tensor2D) : rows;
        const savedKernel = spec.inputGrad ? (saved[spec.kernelGrad ? 1 : 0] as tf.Tensor2D) : kernel;
        const grads: tf.Tensor[] = [];
        let xT: tf.Tensor | null = null;
        let gT: tf.Tensor | null = null;
        if (spec.inputGrad) grads.push(tf.matMul(g, tf.transpose(savedKernel)));
        if (spec.kernelGrad) {
          xT = tf.keep(tf.transpose(savedRows));
          grads.push(tf.matMul(xT as tf.Tensor2D, g));
        }
        if (useBias) {
          gT = tf.keep(tf.transpose(g));
          grads.push(tf.reshape(tf.sum(gT, 1), (bias as tf.Tensor).shape));
        }
        spec.record({ outputGrad: tf.keep(tf.clone(g)), inputTransposed: xT, outputGradTransposed: gT });
        return grads;
      },
    };
  });
  // With no input on the gradient path the tape prunes the op, like the plain path's tap: no record.
  return op(...inputs) as tf.Tensor2D;
}
