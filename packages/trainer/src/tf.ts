/**
 * The TensorFlow.js surface the trainer uses, as the one `tf` namespace its files import: tfjs-core
 * (ops, tensors, variables, gradients), the tfjs-layers names for models and layers, and tf.data's
 * Dataset recognised by shape (tf-data.ts). Importing these instead of the `@tensorflow/tfjs`
 * umbrella keeps tfjs-converter, tfjs-data and the webgl backend out of a consumer's bundle, as
 * tfjs's own extension packages do; the trainer peer-depends on tfjs-core and tfjs-layers only.
 */
export * from '@tensorflow/tfjs-core';
export {
  LayersModel,
  LayerVariable,
  Sequential,
  SymbolicTensor,
  initializers,
  layers,
  model,
  sequential,
} from '@tensorflow/tfjs-layers';
export * as data from './tf-data';
