/**
 * The execution plan of a LayersModel: its nodes in topological order (deepest first, as
 * tfjs-layers' own `runInternalGraph` orders them), each step naming the symbolic tensor ids it
 * reads and writes. Nested models (a Sequential inside a functional model, or a functional model
 * used as a layer) become sub-plans, so the layers inside them are run — and captured — one by one
 * instead of as an opaque block. Running a plan mirrors tfjs-layers' `execute`: every layer gets
 * `{training}` and the input mask, and masks are propagated for layers that support masking.
 */
import type * as tf from '../tf';
import { NatgradError } from '@natgrad/core';
import { type ContainerView, type LayerView, containerOf, isContainer, isInputLayer } from './tfjs-internals';

export interface LayerStep {
  kind: 'layer';
  layer: LayerView;
  inputs: number[];
  outputs: number[];
  /** Symbolic shapes of the node's first input and output (batch dim null). */
  inputShape: (number | null)[];
  outputShape: (number | null)[];
}

export interface ModelStep {
  kind: 'model';
  layer: LayerView;
  graph: Graph;
  inputs: number[];
  outputs: number[];
}

export type Step = LayerStep | ModelStep;

export interface Graph {
  name: string;
  inputs: number[];
  outputs: number[];
  /** Symbolic shapes of the graph inputs (batch dim null). */
  inputShapes: (number | null)[][];
  steps: Step[];
}

export function buildGraph(container: ContainerView, cache: Map<ContainerView, Graph> = new Map()): Graph {
  const cached = cache.get(container);
  if (cached) return cached;
  const steps: Step[] = [];
  const depths = Object.keys(container.nodesByDepth)
    .map((d) => Number.parseInt(d, 10))
    .sort((a, b) => b - a);
  for (const depth of depths) {
    for (const node of container.nodesByDepth[String(depth)]) {
      const layer = node.outboundLayer;
      if (isInputLayer(layer)) continue;
      const inputs = node.inputTensors.map((t) => t.id);
      const outputs = node.outputTensors.map((t) => t.id);
      if (isContainer(layer)) {
        const inner = buildGraph(containerOf(layer as unknown as tf.LayersModel), cache);
        if (inner.inputs.length !== inputs.length || inner.outputs.length !== outputs.length) {
          throw new NatgradError('UNSUPPORTED_LAYER', `Nested model "${layer.name}" is called with a different arity than it declares.`, {
            expected: `${inner.inputs.length} input(s) and ${inner.outputs.length} output(s)`,
            received: `${inputs.length} input(s) and ${outputs.length} output(s)`,
            fix: 'call the nested model on exactly the inputs it was built with',
          });
        }
        steps.push({ kind: 'model', layer, graph: inner, inputs, outputs });
      } else {
        steps.push({
          kind: 'layer',
          layer,
          inputs,
          outputs,
          inputShape: node.inputTensors[0]?.shape ?? [],
          outputShape: node.outputTensors[0]?.shape ?? [],
        });
      }
    }
  }
  const graph: Graph = {
    name: container.name,
    inputs: container.inputs.map((t) => t.id),
    outputs: container.outputs.map((t) => t.id),
    inputShapes: container.inputs.map((t) => t.shape),
    steps,
  };
  cache.set(container, graph);
  return graph;
}

/** Every layer step in execution order, nested plans expanded, with how often each layer runs. */
export function layerUses(graph: Graph): { order: LayerStep[]; uses: Map<LayerView, number> } {
  const order: LayerStep[] = [];
  const uses = new Map<LayerView, number>();
  const walk = (g: Graph) => {
    for (const step of g.steps) {
      if (step.kind === 'model') walk(step.graph);
      else {
        if (!uses.has(step.layer)) order.push(step);
        uses.set(step.layer, (uses.get(step.layer) ?? 0) + 1);
      }
    }
  };
  walk(graph);
  return { order, uses };
}

/**
 * Computes a layer step's outputs, or returns null to let the layer run as itself. This is where
 * the capture substitutes its own Dense/Conv2D forward.
 */
export type LayerOverride = (step: LayerStep, inputs: tf.Tensor[], kwargs: Record<string, unknown>) => tf.Tensor | null;

interface Value {
  tensor: tf.Tensor;
  mask: tf.Tensor | null;
}

function toList(x: tf.Tensor | tf.Tensor[]): tf.Tensor[] {
  return Array.isArray(x) ? x : [x];
}

/** Runs a plan on concrete tensors. Call inside tf.tidy (or a gradient tape): intermediates are not disposed here. */
export function runGraph(graph: Graph, inputs: readonly tf.Tensor[], training: boolean, override: LayerOverride): tf.Tensor[] {
  const values = new Map<number, Value>();
  graph.inputs.forEach((id, i) => {
    values.set(id, { tensor: inputs[i], mask: null });
  });
  for (const step of graph.steps) {
    const ins = step.inputs.map((id) => {
      const v = values.get(id);
      if (v === undefined) {
        throw new NatgradError('UNSUPPORTED_LAYER', `Layer "${step.layer.name}" reads a tensor the graph walk has not computed.`, {
          expected: 'a model whose every layer input comes from the model inputs',
          received: `a dangling input (symbolic tensor id ${id}) in ${graph.name}`,
          fix: 'build the model with tf.model({inputs, outputs}) from connected layers',
        });
      }
      return v;
    });
    const tensors = ins.map((v) => v.tensor);
    if (step.kind === 'model') {
      const outs = runGraph(step.graph, tensors, training, override);
      step.outputs.forEach((id, i) => {
        values.set(id, { tensor: outs[i], mask: null });
      });
      continue;
    }
    const masks = ins.map((v) => v.mask);
    const kwargs: Record<string, unknown> = { training };
    if (masks.some((m) => m !== null)) kwargs.mask = masks[0];
    const replaced = override(step, tensors, kwargs);
    const outs = replaced !== null ? [replaced] : toList(step.layer.apply(tensors.length === 1 ? tensors[0] : tensors, kwargs));
    const outMask = step.layer.supportsMasking ? step.layer.computeMask(tensors, masks as tf.Tensor[]) : null;
    step.outputs.forEach((id, i) => {
      values.set(id, { tensor: outs[i], mask: Array.isArray(outMask) ? (outMask[0] ?? null) : outMask });
    });
  }
  return graph.outputs.map((id) => (values.get(id) as Value).tensor);
}
