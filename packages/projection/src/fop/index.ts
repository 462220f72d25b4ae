/** Subpath entry '@natgrad/projection/fop'. */
export { fisherOrthogonal } from './fisher-orthogonal';
export type { FisherOrthogonalOptions } from './fisher-orthogonal';
