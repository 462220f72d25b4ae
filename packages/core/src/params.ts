/**
 * Parameter maps: gradients, directions and curvature-vector products are all keyed by the
 * tf.Variable's `name` (e.g. "dense_1/kernel"), so every stage of a step can pass partial maps
 * (only the parameters it covers) without positional bookkeeping.
 */
import type * as tf from '@tensorflow/tfjs-core';

/** Tensors keyed by variable name. Whoever receives a map from a producer owns its tensors. */
export type ParamMap<T extends tf.Tensor = tf.Tensor> = Record<string, T>;

/** The trainable variables of a model keyed by their name. */
export type VariableMap = Record<string, tf.Variable>;
