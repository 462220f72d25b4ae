/**
 * Typed views of the tfjs-layers internals the capture relies on (tfjs 4.x): a model's graph of
 * nodes (`nodesByDepth`, symbolic `inputTensors`/`outputTensors` with ids), a layer's variables
 * (`kernel`/`bias` LayerVariables with `read()`), its `activation` and `getConfig()`. They are
 * reachable at run time but not part of tfjs' typed public surface, so they are declared here once
 * and checked when a model is captured: a tfjs version that renamed them fails loudly at capture
 * time instead of computing something else.
 */
import * as tf from '../tf';
import { NatgradError } from '@natgrad/core';

export interface SymbolicView {
  id: number;
  name: string;
  shape: (number | null)[];
}

export interface LayerVariableView {
  name: string;
  shape: number[];
  trainable: boolean;
  read(): tf.Variable;
}

export interface ActivationView {
  getClassName(): string;
  apply(x: tf.Tensor, axis?: number): tf.Tensor;
}

export interface LayerView {
  name: string;
  trainable: boolean;
  supportsMasking: boolean;
  trainableWeights: LayerVariableView[];
  nonTrainableWeights: LayerVariableView[];
  getClassName(): string;
  getConfig(): Record<string, unknown>;
  apply(inputs: tf.Tensor | tf.Tensor[], kwargs?: Record<string, unknown>): tf.Tensor | tf.Tensor[];
  computeMask(inputs: tf.Tensor | tf.Tensor[], mask?: tf.Tensor | tf.Tensor[] | null): tf.Tensor | tf.Tensor[] | null;
  kernel?: LayerVariableView | null;
  bias?: LayerVariableView | null;
  activation?: ActivationView | null;
}

export interface NodeView {
  outboundLayer: LayerView;
  inputTensors: SymbolicView[];
  outputTensors: SymbolicView[];
}

export interface ContainerView extends LayerView {
  inputs: SymbolicView[];
  outputs: SymbolicView[];
  layers: LayerView[];
  nodesByDepth: Record<string, NodeView[]>;
}

function internalsMissing(what: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `The model does not expose the tfjs-layers internals the capture needs (${what}).`, {
    expected: 'a tf.LayersModel from @tensorflow/tfjs 4.x (tf.sequential or tf.model)',
    received: `a model without ${what}`,
    fix: 'build the model with the @tensorflow/tfjs version natgrad is pinned to',
  });
}

/** The functional graph behind a LayersModel; a Sequential is built (as predict() would) first. */
export function containerOf(model: tf.LayersModel): ContainerView {
  let graph: unknown = model;
  if (model instanceof tf.Sequential) {
    const seq = model as unknown as { model: unknown; build(): void };
    if (seq.model == null) seq.build();
    graph = seq.model;
  }
  const c = graph as Partial<ContainerView> | null;
  if (c == null || typeof c !== 'object') throw internalsMissing('a built graph');
  if (!Array.isArray(c.inputs) || !Array.isArray(c.outputs)) throw internalsMissing('inputs/outputs');
  if (c.nodesByDepth == null || typeof c.nodesByDepth !== 'object') throw internalsMissing('nodesByDepth');
  return c as ContainerView;
}

export function isContainer(layer: LayerView): boolean {
  return layer instanceof tf.LayersModel;
}

export function isInputLayer(layer: LayerView): boolean {
  return layer.getClassName() === 'InputLayer';
}
