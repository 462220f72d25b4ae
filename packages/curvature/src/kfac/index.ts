/**
 * @natgrad/curvature/kfac: Kronecker-factored curvature for Dense and Conv2D layers (KFAC / KFC)
 * with pi-corrected factored or exact eigenbasis damping.
 */
export { KfacEstimator, kfac } from './estimator';
export type { KfacOptions } from './estimator';
export type { DampingMode, LinalgMethod } from './damping';
export { convGeometry, extractPatches } from './patches';
export { batchFactors } from './factors';
export type { ConvGeometry } from './patches';
export type { BlockInverse as KfacBlockInverse, EigenInverse, PiInverse } from './damping';
export type { Slot as KfacSlot } from './estimator';
export type { WorkerSlot } from './worker-statistics';
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
  LayerCapture,
  LayerInfo,
  MemoryReport,
  ParamMap,
  StateDict,
  StatisticsWorker,
} from '@natgrad/core';
