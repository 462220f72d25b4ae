/**
 * Gradient taps: an identity on a layer's pre-activation whose backward (tf.customGrad) stores a
 * copy of the incoming gradient d(loss)/d(pre) and passes the gradient through unchanged. The tap
 * therefore sees exactly the gradient the parameter gradients are computed from, in the same
 * backward pass, without zero "probe" tensors that would need the batch shape ahead of time.
 *
 * Ownership: the tap keeps (tf.keep) a clone of the layer input when the forward runs and of the
 * gradient when the backward runs, so both survive the tapes' tidy scopes; `take()` hands them to
 * the caller, `disposeAll()` releases them after a failure.
 */
import * as tf from '../tf';
import type { LayerCapture } from '@natgrad/core';
import { type DenseCaptureSpec, denseCaptureOp } from './dense-capture-op';
import type { DenseCapture, PreActivationTap } from './layer-forward';

export class CaptureTaps {
  private readonly inputs = new Map<string, tf.Tensor>();
  private readonly grads = new Map<string, tf.Tensor>();
  private readonly shapes = new Map<string, number[]>();
  private readonly inputsT = new Map<string, tf.Tensor>();
  private readonly gradsT = new Map<string, tf.Tensor>();

  /** The tap for one registered layer; call the result once per forward. */
  tapFor(layerName: string): PreActivationTap {
    return (input, pre) => {
      this.replace(this.inputs, layerName, tf.keep(tf.clone(input)));
      this.shapes.set(layerName, pre.shape);
      const identity = tf.customGrad((...args) => ({
        value: tf.clone(args[0] as tf.Tensor),
        gradFunc: (dy: tf.Tensor) => {
          this.replace(this.grads, layerName, tf.keep(tf.clone(dy)));
          return tf.clone(dy);
        },
      }));
      return identity(pre) as tf.Tensor;
    };
  }

  /**
   * The fused Dense pre-activation of one registered layer (dense-capture-op.ts): records the
   * input, d(loss)/d(pre) and the transposes its backward forms. `grads` says which of the op's
   * operands the pass differentiates.
   */
  denseFor(layerName: string, grads: Omit<DenseCaptureSpec, 'record'>): DenseCapture {
    return (rows, kernel, bias) => {
      this.replace(this.inputs, layerName, tf.keep(tf.clone(rows)));
      this.shapes.set(layerName, [rows.shape[0], kernel.shape[1]]);
      return denseCaptureOp(rows, kernel, bias, {
        ...grads,
        record: (r) => {
          this.replace(this.grads, layerName, r.outputGrad);
          this.replaceOrDrop(this.inputsT, layerName, r.inputTransposed);
          this.replaceOrDrop(this.gradsT, layerName, r.outputGradTransposed);
        },
      });
    };
  }

  /**
   * Moves the captures out (the caller owns them). A registered layer whose output does not reach
   * the loss gets no backward call: its output gradient is exactly zero.
   */
  take(layerNames: readonly string[]): Record<string, LayerCapture> {
    const out: Record<string, LayerCapture> = {};
    for (const name of layerNames) {
      const input = this.inputs.get(name);
      if (input === undefined) continue;
      const grad = this.grads.get(name) ?? tf.zeros(this.shapes.get(name) ?? []);
      const capture: LayerCapture = { input, outputGrad: grad };
      // The transposes belong to the recorded gradient; without one (zero gradient) there are none.
      const inputT = this.grads.has(name) ? this.inputsT.get(name) : undefined;
      const gradT = this.grads.has(name) ? this.gradsT.get(name) : undefined;
      if (inputT !== undefined) capture.inputTransposed = inputT;
      if (gradT !== undefined) capture.outputGradTransposed = gradT;
      out[name] = capture;
    }
    this.inputs.clear();
    this.grads.clear();
    this.inputsT.clear();
    this.gradsT.clear();
    return out;
  }

  disposeAll(): void {
    for (const m of [this.inputs, this.grads, this.inputsT, this.gradsT]) {
      for (const t of m.values()) t.dispose();
      m.clear();
    }
  }

  private replaceOrDrop(map: Map<string, tf.Tensor>, key: string, value: tf.Tensor | null): void {
    if (value === null) {
      map.get(key)?.dispose();
      map.delete(key);
    } else this.replace(map, key, value);
  }

  private replace(map: Map<string, tf.Tensor>, key: string, value: tf.Tensor): void {
    map.get(key)?.dispose();
    map.set(key, value);
  }
}
