/**
 * captureModel: runs a user's tf.sequential / tf.model so that, for every registered Dense and
 * Conv2D layer, the trainer gets the layer's input activations and d(mean loss)/d(pre-activation)
 * from the same backward that produces the parameter gradients (capture-tap.ts). Every other layer
 * runs as itself (`layer.apply`, training flag passed as tfjs' `execute` does) and trains with its
 * plain gradient; registration.ts says which layers are registered and why the others are not.
 *
 * Fisher type (core FisherType), explicit in every computeGradients call:
 * - 'empirical': the captures come from the training labels' backward — no extra cost.
 * - 'sampled' (true Fisher): a second forward + backward whose targets are drawn from the model's
 *   own predictive distribution (LossFunction.sampleTargets, seeded, on the device) of that same
 *   forward; the sampling is a stop-gradient. tfjs cannot replay a tape, so unlike PyTorch's extra
 *   backward this costs a forward too. Dropout draws fresh masks in that pass (targets are sampled
 *   from the pass's own predictions, so they stay consistent), and non-trainable variables
 *   (BatchNormalization moving statistics) are restored afterwards so a curvature step updates them
 *   exactly once, like a plain step.
 *
 * Tensor ownership: everything computeGradients and predict return belongs to the caller; nothing
 * else survives a call (tf.memory().numTensors grows by exactly the returned tensors).
 */
import * as tf from '../tf';
import { NatgradError, describeValue } from '@natgrad/core';
import type { FisherType, LayerCapture, LayerInfo, LossFunction, ParamMap, SkippedLayer } from '@natgrad/core';
import { CaptureTaps } from './capture-tap';
import { type Graph, type LayerOverride, type LayerStep, buildGraph, layerUses, runGraph } from './graph';
import { type PreActivationTap, conv2dForward, denseForward } from './layer-forward';
import { type Registration, registerLayer } from './registration';
import { type ContainerView, type LayerView, containerOf } from './tfjs-internals';

export interface CaptureOptions {
  /** Layer names to leave unregistered (they still train, with the plain gradient). */
  skip?: readonly string[];
}

export interface GradientOptions {
  /** Also return the registered layers' captures. */
  capture: boolean;
  /** Which labels the captures' backward uses (only read when capture is true). */
  fisher: FisherType;
  /** Seed of the target sampling for fisher 'sampled': an integer in [0, 2^31 - 2]. */
  seed: number;
}

export interface GradientResult {
  /** Mean training loss of the batch. */
  loss: tf.Scalar;
  /** d(mean loss)/d(variable) for every trainable variable, keyed by variable name. */
  grads: ParamMap;
  /** Captures keyed by registered layer name; null when capture was false. */
  captures: Record<string, LayerCapture> | null;
  /** The model outputs of the training-mode forward. */
  outputs: tf.Tensor;
}

export interface ModelCapture {
  /** Registered Dense/Conv2D layers, in execution order. */
  readonly layers: readonly LayerInfo[];
  /** Layers with trainable variables that got no curvature block, with the reason. */
  readonly skipped: readonly SkippedLayer[];
  /** All trainable variables keyed by name. */
  readonly variables: Record<string, tf.Variable>;
  /**
   * Activation class of the layer that produces the model output ('softmax', 'linear', ...), or
   * null when the output layer has none. resolveLoss uses it to choose probabilities vs logits.
   */
  readonly outputActivation: string | null;
  /** Human-readable registration table. */
  report(): string;
  /**
   * Training-mode forward and backward of the mean loss; gradients for every trainable variable
   * and, with capture, the captures of every registered layer (see the module header for 'sampled').
   */
  computeGradients(x: tf.Tensor, y: tf.Tensor, loss: LossFunction, options: GradientOptions): GradientResult;
  /** The model output; with training false (default) it equals model.predict. */
  predict(x: tf.Tensor, options?: { training?: boolean }): tf.Tensor;
}

/** Backends whose matMul gradient transposes explicitly (@natgrad/backends), where sharing the transposes pays. */
export const FUSED_DENSE_BACKENDS: ReadonlySet<string> = new Set(['wasm', 'cpu']);

function invalid(summary: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', summary, { expected, received: describeValue(received), fix });
}

function outputActivationOf(graph: Graph): string | null {
  const outId = graph.outputs[0];
  for (const step of graph.steps) {
    if (!step.outputs.includes(outId)) continue;
    if (step.kind === 'model') return outputActivationOf(step.graph);
    const cls = step.layer.getClassName();
    if (cls === 'Softmax') return 'softmax';
    return step.layer.activation ? step.layer.activation.getClassName() : null;
  }
  return null;
}

/** A stop-gradient: the sampled targets are constants for the backward (the sampler has no gradient). */
function sampleWithoutGradient(loss: LossFunction, predictions: tf.Tensor, seed: number): tf.Tensor {
  const sampler = loss.sampleTargets as NonNullable<LossFunction['sampleTargets']>;
  const op = tf.customGrad((...args) => {
    const p = args[0] as tf.Tensor;
    return { value: sampler.call(loss, p, seed), gradFunc: () => tf.zerosLike(p) };
  });
  return op(predictions) as tf.Tensor;
}

class Capture implements ModelCapture {
  readonly layers: readonly LayerInfo[];
  readonly skipped: readonly SkippedLayer[];
  readonly variables: Record<string, tf.Variable>;
  readonly outputActivation: string | null;
  private readonly graph: Graph;
  private readonly registered = new Map<LayerView, LayerInfo>();
  private readonly parameterFree: string[] = [];
  private readonly checkedLossShapes = new Set<string>();
  private readonly outputShape: (number | null)[];

  constructor(
    private readonly model: tf.LayersModel,
    options: CaptureOptions,
  ) {
    const container: ContainerView = containerOf(model);
    this.graph = buildGraph(container);
    if (this.graph.inputs.length !== 1 || this.graph.outputs.length !== 1) {
      throw new NatgradError('UNSUPPORTED_LAYER', 'Only single-input, single-output models can be captured.', {
        expected: 'a model with one input and one output',
        received: `${this.graph.inputs.length} input(s) and ${this.graph.outputs.length} output(s)`,
        fix: 'concatenate the inputs / outputs inside the model, or train each head as its own model',
      });
    }
    const skipNames = new Set(options.skip ?? []);
    const { order, uses } = layerUses(this.graph);
    const known = new Set(order.map((s) => s.layer.name));
    const unknown = [...skipNames].filter((n) => !known.has(n));
    if (unknown.length > 0) {
      throw invalid('options.skip names layers the model does not have.', `names among: ${[...known].join(', ')}`, unknown, 'check the layer names (model.layers.map(l => l.name))');
    }
    const layers: LayerInfo[] = [];
    const skipped: SkippedLayer[] = [];
    for (const step of order) {
      const reg: Registration = registerLayer(step, uses.get(step.layer) ?? 1, skipNames);
      if (reg.kind === 'registered') {
        if (layers.some((l) => l.name === reg.info.name)) {
          throw invalid('Two registered layers share a name.', 'unique layer names across the model and its nested models', reg.info.name, 'give the layers explicit unique `name`s');
        }
        layers.push(reg.info);
        this.registered.set(step.layer, reg.info);
      } else if (reg.kind === 'skipped') skipped.push(reg.skipped);
      else this.parameterFree.push(`${step.layer.name} (${step.layer.getClassName()})`);
    }
    this.layers = layers;
    this.skipped = skipped;
    this.variables = {};
    for (const w of model.trainableWeights) {
      const v = (w as unknown as { read(): tf.Variable }).read();
      this.variables[v.name] = v;
    }
    this.outputActivation = outputActivationOf(this.graph);
    this.outputShape = containerOf(model).outputs[0].shape;
  }

  report(): string {
    const lines = [`natgrad layer registration for model "${this.model.name}"`, `registered (${this.layers.length}):`];
    for (const l of this.layers) {
      const sizes = l.kind === 'dense' ? { a: l.inputSize, g: l.outputSize } : { a: l.kernelSize[0] * l.kernelSize[1] * l.inChannels, g: l.outChannels };
      const a = sizes.a + (l.bias === null ? 0 : 1);
      const geometry =
        l.kind === 'dense'
          ? `${l.inputSize} -> ${l.outputSize}`
          : `${l.kernelSize.join('x')} ${l.inChannels} -> ${l.outChannels}, stride ${l.strides.join('x')}, dilation ${l.dilation.join('x')}, ${l.padding}, ${l.inputSize.join('x')} -> ${l.outputSize.join('x')}`;
      lines.push(`  ${l.name.padEnd(24)} ${l.kind.padEnd(7)} ${geometry}; factors A ${a}x${a}, G ${sizes.g}x${sizes.g}${l.bias === null ? ' (no bias)' : ''}`);
    }
    lines.push(`skipped (${this.skipped.length}) — these train with the plain gradient:`);
    for (const s of this.skipped) {
      lines.push(`  ${s.name.padEnd(24)} ${s.className.padEnd(18)} ${s.reason}; variables: ${s.variables.length > 0 ? s.variables.join(', ') : 'none'}`);
    }
    if (this.parameterFree.length > 0) lines.push(`parameter-free (run as-is): ${this.parameterFree.join(', ')}`);
    return lines.join('\n');
  }

  predict(x: tf.Tensor, options: { training?: boolean } = {}): tf.Tensor {
    this.checkInput(x);
    return tf.tidy(() => this.forward(x, options.training === true, null));
  }

  computeGradients(x: tf.Tensor, y: tf.Tensor, loss: LossFunction, options: GradientOptions): GradientResult {
    this.checkInput(x);
    this.checkTargets(x, y);
    this.checkGradientOptions(loss, options);
    this.checkLossFits(loss, x, y);
    const wantSampled = options.capture && options.fisher === 'sampled';
    const empiricalTaps = options.capture && !wantSampled ? new CaptureTaps() : null;
    const names = this.layers.map((l) => l.name);
    const varList = Object.values(this.variables);
    if (varList.length === 0) {
      throw invalid('The model has no trainable variables.', 'at least one trainable variable', 0, 'unfreeze at least one layer (layer.trainable = true)');
    }
    let outputs: tf.Tensor | null = null;
    let captures: Record<string, LayerCapture> | null = null;
    let result: { value: tf.Scalar; grads: tf.NamedTensorMap } | null = null;
    try {
      result = tf.variableGrads(() => {
        const out = this.forward(x, true, empiricalTaps, empiricalTaps ? new Set(varList) : null);
        outputs = tf.keep(out);
        return loss.compute(y, out);
      }, varList);
      if (empiricalTaps) captures = empiricalTaps.take(names);
      if (wantSampled) captures = this.sampledCaptures(x, loss, options.seed);
    } catch (err) {
      empiricalTaps?.disposeAll();
      (outputs as tf.Tensor | null)?.dispose();
      if (result) {
        result.value.dispose();
        tf.dispose(Object.values(result.grads));
      }
      throw err;
    }
    const grads: ParamMap = {};
    for (const [name, v] of Object.entries(this.variables)) {
      // A variable that does not reach the loss has an exactly-zero gradient.
      grads[name] = result.grads[name] ?? tf.zerosLike(v);
    }
    return { loss: result.value, grads, captures, outputs: outputs as unknown as tf.Tensor };
  }

  /** The true-Fisher pass: forward, targets sampled from its own predictions, backward into the taps. */
  private sampledCaptures(x: tf.Tensor, loss: LossFunction, seed: number): Record<string, LayerCapture> {
    const taps = new CaptureTaps();
    // The backward only has to reach every tap; the parameter gradients it produces are discarded.
    // Differentiating with respect to the biases (kernels only for bias-free layers) reaches each
    // pre-activation just the same but skips the dW = X^T dY products, ~45% of this pass on an MLP.
    const sources = this.layers.map((l) => this.variables[l.bias ?? l.kernel]);
    const state = this.model.nonTrainableWeights.map((w) => (w as unknown as { read(): tf.Variable }).read());
    const saved = state.map((v) => tf.clone(v));
    try {
      if (sources.length > 0) {
        tf.tidy(() => {
          tf.variableGrads(() => {
            const out = this.forward(x, true, taps, new Set(sources));
            return loss.compute(sampleWithoutGradient(loss, out, seed), out);
          }, sources);
        });
      }
      return taps.take(this.layers.map((l) => l.name));
    } catch (err) {
      taps.disposeAll();
      throw err;
    } finally {
      state.forEach((v, i) => {
        v.assign(saved[i]);
      });
      tf.dispose(saved);
    }
  }

  /**
   * `sources`: the variables the pass differentiates; with taps on a backend that transposes
   * explicitly, Dense layers use the fused capture op (dense-capture-op.ts), told which operands
   * need a gradient: the input rows unless they are the model input (or a reshape of it, same
   * data), the kernel and bias when they are sources.
   */
  private forward(x: tf.Tensor, training: boolean, taps: CaptureTaps | null, sources: ReadonlySet<tf.Variable> | null = null): tf.Tensor {
    const fuse = taps !== null && sources !== null && FUSED_DENSE_BACKENDS.has(tf.getBackend());
    const override: LayerOverride = (step: LayerStep, inputs) => {
      const info = this.registered.get(step.layer);
      if (info === undefined) return null;
      if (info.kind === 'dense' && fuse) {
        const s = sources as ReadonlySet<tf.Variable>;
        const capture = (taps as CaptureTaps).denseFor(info.name, {
          inputGrad: inputs[0].dataId !== x.dataId,
          kernelGrad: s.has(this.variables[info.kernel]),
          biasGrad: info.bias !== null && s.has(this.variables[info.bias]),
        });
        return denseForward(step.layer, info, inputs[0], null, capture);
      }
      const tap: PreActivationTap | null = taps ? taps.tapFor(info.name) : null;
      return info.kind === 'dense' ? denseForward(step.layer, info, inputs[0], tap) : conv2dForward(step.layer, info, inputs[0], tap);
    };
    return runGraph(this.graph, [x], training, override)[0];
  }

  private checkInput(x: tf.Tensor): void {
    const expected = this.graph.inputShapes[0];
    const isTensor = x instanceof tf.Tensor;
    const fits = isTensor && x.rank === expected.length && expected.every((d, i) => d === null || d === x.shape[i]);
    if (!fits) {
      throw new NatgradError('SHAPE_MISMATCH', `Input does not fit model "${this.model.name}".`, {
        expected: `a tensor of shape [${expected.map((d) => (d === null ? 'batch' : d)).join(',')}]`,
        received: describeValue(x),
        fix: 'reshape the batch to the model input shape',
      });
    }
  }

  private checkTargets(x: tf.Tensor, y: tf.Tensor): void {
    if (!(y instanceof tf.Tensor) || y.rank < 1 || y.shape[0] !== x.shape[0]) {
      throw new NatgradError('SHAPE_MISMATCH', 'Targets do not match the input batch.', {
        expected: `a tensor whose first dimension is the batch size ${x.shape[0]}`,
        received: describeValue(y),
        fix: 'pass one target row per input example',
      });
    }
  }

  /**
   * tfjs leaks the tensors a gradient tape saved when the taped function throws, so a loss that
   * rejects the targets must do so before the tape opens: the loss is evaluated once on zeros of
   * the output shape (once per loss and target shape; skipped when the output shape has free dims).
   */
  private checkLossFits(loss: LossFunction, x: tf.Tensor, y: tf.Tensor): void {
    const rest = this.outputShape.slice(1);
    if (rest.some((d) => d === null)) return;
    const key = `${loss.name}|${y.dtype}|${y.shape.join(',')}|${x.shape[0]}`;
    if (this.checkedLossShapes.has(key)) return;
    tf.tidy(() => {
      loss.compute(y, tf.zeros([x.shape[0], ...(rest as number[])]));
    });
    this.checkedLossShapes.add(key);
  }

  private checkGradientOptions(loss: LossFunction, options: GradientOptions): void {
    if (loss === null || typeof loss !== 'object' || typeof loss.compute !== 'function') {
      throw new NatgradError('UNSUPPORTED_LOSS', 'computeGradients needs a LossFunction.', {
        expected: 'a LossFunction (e.g. resolveLoss("categoricalCrossentropy"))',
        received: describeValue(loss),
        fix: 'wrap the loss with resolveLoss(...)',
      });
    }
    if (options === null || typeof options !== 'object' || typeof options.capture !== 'boolean') {
      throw invalid('computeGradients options are missing.', '{ capture: boolean, fisher, seed }', options, 'pass { capture, fisher, seed } explicitly');
    }
    if (options.fisher !== 'sampled' && options.fisher !== 'empirical') {
      throw invalid('Unknown Fisher type.', "'sampled' or 'empirical'", options.fisher, "use 'sampled' (true Fisher, default) or 'empirical'");
    }
    if (options.capture && options.fisher === 'sampled') {
      if (typeof loss.sampleTargets !== 'function') {
        throw new NatgradError('UNSUPPORTED_LOSS', `Loss "${loss.name}" cannot sample targets, so the sampled (true) Fisher is undefined for it.`, {
          expected: 'a loss with sampleTargets: categoricalCrossentropy, sparseCategoricalCrossentropy or meanSquaredError',
          received: `loss "${loss.name}" without sampleTargets`,
          fix: "use fisher: 'empirical', or give the LossFunction a sampleTargets method",
        });
      }
      if (!Number.isInteger(options.seed) || options.seed < 0 || options.seed > 2 ** 31 - 2) {
        throw invalid('Invalid sampling seed.', 'an integer in [0, 2^31 - 2]', options.seed, 'derive the seed from the step counter');
      }
    }
  }
}

/** Walks the model once and returns its capture; throws NatgradError for models it cannot run. */
export function captureModel(model: tf.LayersModel, options: CaptureOptions = {}): ModelCapture {
  if (!(model instanceof tf.LayersModel)) {
    throw invalid('captureModel needs a tf.LayersModel.', 'a model built with tf.sequential() or tf.model()', model, 'build the model with @tensorflow/tfjs layers');
  }
  if (options.skip !== undefined && (!Array.isArray(options.skip) || options.skip.some((s) => typeof s !== 'string'))) {
    throw invalid('options.skip must list layer names.', 'an array of layer names', options.skip, 'pass e.g. { skip: ["dense_3"] }');
  }
  return new Capture(model, options);
}
