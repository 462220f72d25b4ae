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
import * as tf from '@tensorflow/tfjs';
import type { LayerCapture } from '@natgrad/core';
import type { PreActivationTap } from './layer-forward';

export class CaptureTaps {
  private readonly inputs = new Map<string, tf.Tensor>();
  private readonly grads = new Map<string, tf.Tensor>();
  private readonly shapes = new Map<string, number[]>();

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
   * Moves the captures out (the caller owns them). A registered layer whose output does not reach
   * the loss gets no backward call: its output gradient is exactly zero.
   */
  take(layerNames: readonly string[]): Record<string, LayerCapture> {
    const out: Record<string, LayerCapture> = {};
    for (const name of layerNames) {
      const input = this.inputs.get(name);
      if (input === undefined) continue;
      const grad = this.grads.get(name) ?? tf.zeros(this.shapes.get(name) ?? []);
      out[name] = { input, outputGrad: grad };
    }
    this.inputs.clear();
    this.grads.clear();
    return out;
  }

  disposeAll(): void {
    for (const t of this.inputs.values()) t.dispose();
    for (const t of this.grads.values()) t.dispose();
    this.inputs.clear();
    this.grads.clear();
  }

  private replace(map: Map<string, tf.Tensor>, key: string, value: tf.Tensor): void {
    map.get(key)?.dispose();
    map.set(key, value);
  }
}
