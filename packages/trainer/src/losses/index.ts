/**
 * Losses for the trainer: the core LossFunction contract for categorical / sparse categorical
 * cross-entropy and mean squared error, each able to sample targets from the model's predictive
 * distribution for the true ("sampled") Fisher, and resolveLoss to map tfjs-style names to them.
 */
export { categoricalCrossentropy } from './categorical';
export type { CrossEntropyOptions } from './categorical';
export { sparseCategoricalCrossentropy } from './sparse-categorical';
export { meanSquaredError } from './mean-squared-error';
export { SUPPORTED_LOSSES, resolveLoss } from './resolve-loss';
export type { LossName, ResolveLossOptions, TfjsLossFn } from './resolve-loss';
