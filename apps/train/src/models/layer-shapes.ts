/**
 * The Dense and Conv2D layers each model builder creates, computed from the options alone (no
 * tensors): fan-in, fan-out and output positions. The memory estimate needs them before anything
 * is allocated (a model too large for the backend fails inside tfjs with "memory access out of
 * bounds"), and they say which input sizes a model cannot take. models.test.ts checks them against
 * the built models, so the two cannot drift apart.
 */
import type { ModelName } from './index';
import type { ModelOptions } from './model-options';

export interface LayerShape {
  name: string;
  kind: 'dense' | 'conv2d';
  /** Inputs per output unit, without the bias: inputs for Dense, kh * kw * inChannels for Conv2D. */
  fanIn: number;
  /** Units (Dense) or output channels (Conv2D). */
  fanOut: number;
  /** Output positions per example: 1 for Dense, outHeight * outWidth for Conv2D. */
  positions: number;
}

type ShapeOptions = Pick<ModelOptions, 'inputShape' | 'numClasses' | 'width'>;

/** Output side of a 'same'-padded convolution, and of a 'valid' pooling window. */
const same = (side: number, stride: number) => Math.ceil(side / stride);
const pooled = (side: number, pool: number) => Math.floor(side / pool);

function mlp(o: ShapeOptions): LayerShape[] {
  const [h, w, c] = o.inputShape;
  const hidden = o.width ?? 128;
  return [
    { name: 'dense1', kind: 'dense', fanIn: h * w * c, fanOut: hidden, positions: 1 },
    { name: 'dense2', kind: 'dense', fanIn: hidden, fanOut: Math.ceil(hidden / 2), positions: 1 },
    { name: 'logits', kind: 'dense', fanIn: Math.ceil(hidden / 2), fanOut: o.numClasses, positions: 1 },
  ];
}

function cnn(o: ShapeOptions): LayerShape[] {
  const [h, w, c] = o.inputShape;
  const base = o.width ?? 16;
  const [h1, w1] = [same(h, 2), same(w, 2)];
  const [h2, w2] = [same(h1, 2), same(w1, 2)];
  const [h3, w3] = [pooled(h2, 2), pooled(w2, 2)];
  return [
    { name: 'conv1', kind: 'conv2d', fanIn: 9 * c, fanOut: base, positions: h1 * w1 },
    { name: 'conv2', kind: 'conv2d', fanIn: 9 * base, fanOut: 2 * base, positions: h2 * w2 },
    { name: 'logits', kind: 'dense', fanIn: h3 * w3 * 2 * base, fanOut: o.numClasses, positions: 1 },
  ];
}

function resnet(o: ShapeOptions): LayerShape[] {
  const [h, w, c] = o.inputShape;
  const base = o.width ?? 16;
  const layers: LayerShape[] = [{ name: 'stem', kind: 'conv2d', fanIn: 9 * c, fanOut: base, positions: h * w }];
  let [side, cols, channels] = [h, w, base];
  for (const [stage, filters, stride] of [['stage1', base, 1], ['stage2', 2 * base, 2], ['stage3', 4 * base, 2]] as const) {
    const [oh, ow] = [same(side, stride), same(cols, stride)];
    layers.push({ name: `${stage}_conv1`, kind: 'conv2d', fanIn: 9 * channels, fanOut: filters, positions: oh * ow });
    layers.push({ name: `${stage}_conv2`, kind: 'conv2d', fanIn: 9 * filters, fanOut: filters, positions: oh * ow });
    if (stride !== 1 || channels !== filters) layers.push({ name: `${stage}_proj`, kind: 'conv2d', fanIn: channels, fanOut: filters, positions: oh * ow });
    [side, cols, channels] = [oh, ow, filters];
  }
  layers.push({ name: 'logits', kind: 'dense', fanIn: channels, fanOut: o.numClasses, positions: 1 });
  return layers;
}

const SHAPES: Record<ModelName, (o: ShapeOptions) => LayerShape[]> = { mlp, cnn, resnet };

export function layerShapes(model: ModelName, opts: ShapeOptions): LayerShape[] {
  return SHAPES[model](opts);
}

/** Trainable parameters: weights and a bias per output unit of every layer. */
export function parameterCount(layers: readonly LayerShape[]): number {
  return layers.reduce((n, l) => n + (l.fanIn + 1) * l.fanOut, 0);
}
