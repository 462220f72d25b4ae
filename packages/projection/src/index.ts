/**
 * @natgrad/projection: how the gradients of a batch's sub-batches become the step direction.
 * identity() preconditions one batch gradient (KFAC); average() preconditions the mean of k
 * sub-batch gradients; fisherOrthogonal() is FOP (arXiv 2508.13898).
 */
export { identity } from './identity';
export { average } from './average/index';
export type { AverageOptions } from './average/index';
export { fisherOrthogonal } from './fop/index';
export type { FisherOrthogonalOptions } from './fop/index';
// The @natgrad/core type these return, so a consumer can name it from here.
export type { ProjectionStrategy } from '@natgrad/core';
