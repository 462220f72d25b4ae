/**
 * @natgrad/curvature: curvature estimators implementing @natgrad/core's CurvatureEstimator. KFAC
 * (Dense + Conv2D by KFC) and diagonal Fisher; each also importable from its own subpath.
 */
export { DiagonalEstimator, diagonal } from './diagonal/index';
export type { DiagonalMode, DiagonalOptions } from './diagonal/index';
export { KfacEstimator, convGeometry, extractPatches, kfac } from './kfac/index';
export type { ConvGeometry, DampingMode, KfacOptions, LinalgMethod } from './kfac/index';
