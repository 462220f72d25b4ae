/**
 * @natgrad/curvature/diagonal: diagonal curvature ('fisher' from per-example products, or
 * 'empirical' squared mean gradients) behind the same CurvatureEstimator interface as KFAC.
 */
export { DiagonalEstimator, diagonal } from './estimator';
export type { DiagonalMode, DiagonalOptions, Slot as DiagonalSlot } from './estimator';
export { EmaCurvatureEstimator } from '../shared/ema-curvature-estimator';
export type { EmaEstimatorOptions } from '../shared/options';
// The @natgrad/core types this API takes and returns, so a consumer can name them from here.
export type {
  Conv2DLayerInfo,
  CurvatureBatch,
  CurvatureBlock,
  CurvatureEstimator,
  CurvatureRequirements,
  FisherType,
  JsonValue,
  LayerInfo,
  MemoryReport,
  ParamMap,
  StateDict,
  StatisticsWorker,
} from '@natgrad/core';
