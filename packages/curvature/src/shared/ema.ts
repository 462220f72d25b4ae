/**
 * Exponential moving averages with zero initialisation and bias correction (Kingma & Ba 2015,
 * Algorithm 1; the kfac-jax / tensorflow-kfac convention for KFAC factors):
 *   S_t = decay S_{t-1} + (1 - decay) X_t,  S_0 = 0;   E_t = S_t / (1 - decay^t).
 * The debiased E_t is an exact weighted mean of X_1..X_t (weights summing to 1), so the first
 * update is X_1 itself rather than a 5%-scale copy of it (identity init would bias it instead).
 */
import * as tf from '@tensorflow/tfjs-core';

/** Folds `value` into `variable` (call inside tf.tidy; the variable is updated in place). */
export function emaAssign(variable: tf.Variable, value: tf.Tensor, decay: number): void {
  variable.assign(tf.add(tf.mul(variable, decay), tf.mul(value, 1 - decay)));
}

/** 1 / (1 - decay^steps): the factor that turns the raw EMA into the debiased average. */
export function debiasScale(decay: number, steps: number): number {
  // Computed in float64 on the host, so every backend applies the identical scalar.
  return 1 / (1 - decay ** steps);
}

/** A zero-initialised, non-trainable float32 variable (names are left to tfjs: they must be unique). */
export function zeroVariable(shape: number[]): tf.Variable {
  return tf.tidy(() => tf.variable(tf.zeros(shape, 'float32'), false));
}
