/**
 * @natgrad/curvature/kfac: Kronecker-factored curvature for Dense and Conv2D layers (KFAC / KFC)
 * with pi-corrected factored or exact eigenbasis damping.
 */
export { KfacEstimator, kfac } from './estimator';
export type { KfacOptions } from './estimator';
export type { DampingMode, LinalgMethod } from './damping';
export { convGeometry, extractPatches } from './patches';
export type { ConvGeometry } from './patches';
