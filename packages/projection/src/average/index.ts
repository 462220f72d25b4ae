/** Subpath entry '@natgrad/projection/average'. */
export { average } from './average';
export type { AverageOptions } from './average';
// The @natgrad/core type these return, so a consumer can name it from here.
export type { ProjectionStrategy } from '@natgrad/core';
