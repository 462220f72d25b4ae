/**
 * @natgrad/curvature: curvature estimators implementing @natgrad/core's CurvatureEstimator. KFAC
 * (Dense + Conv2D by KFC) and diagonal Fisher; each also importable from its own subpath.
 */
export { DiagonalEstimator, diagonal } from './diagonal/index';
export type { DiagonalMode, DiagonalOptions } from './diagonal/index';
export { KfacEstimator, batchFactors, convGeometry, extractPatches, kfac } from './kfac/index';
export type { ConvGeometry, DampingMode, EigenInverse, KfacBlockInverse, KfacOptions, KfacSlot, LinalgMethod, PiInverse, WorkerSlot } from './kfac/index';
export type { DiagonalSlot } from './diagonal/index';
export { EmaCurvatureEstimator } from './shared/ema-curvature-estimator';
export type { EmaEstimatorOptions } from './shared/options';
// The @natgrad/core types this API takes and returns, so a consumer can name them from here.
export type {
  Conv2DLayerInfo,
  CurvatureBatch,
  CurvatureBlock,
  CurvatureEstimator,
  CurvatureRequirements,
  FisherType,
  JsonValue,
  LayerCapture,
  LayerInfo,
  MemoryReport,
  ParamMap,
  StateDict,
  StatisticsWorker,
} from '@natgrad/core';
