/**
 * Layer capture: runs a tf.LayersModel so that every Dense / Conv2D layer yields its input
 * activations and output gradients from the training backward (or a sampled-Fisher backward), and
 * reports which layers carry a curvature block and why the others do not.
 */
export { captureModel } from './model-capture';
export type { CaptureOptions, GradientOptions, GradientResult, ModelCapture } from './model-capture';
