/**
 * @natgrad/curvature/diagonal: diagonal curvature ('fisher' from per-example products, or
 * 'empirical' squared mean gradients) behind the same CurvatureEstimator interface as KFAC.
 */
export { DiagonalEstimator, diagonal } from './estimator';
export type { DiagonalMode, DiagonalOptions } from './estimator';
