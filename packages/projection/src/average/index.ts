/** Subpath entry '@natgrad/projection/average'. */
export { average } from './average';
export type { AverageOptions } from './average';
