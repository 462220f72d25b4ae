/** Subpath entry '@natgrad/projection/fop'. */
export { fisherOrthogonal } from './fisher-orthogonal';
export type { FisherOrthogonalOptions } from './fisher-orthogonal';
// The @natgrad/core type these return, so a consumer can name it from here.
export type { ProjectionStrategy } from '@natgrad/core';
