/**
 * @natgrad/core: the contracts every natgrad package implements. Types first; the only runtime
 * code is the error class and a few helpers every package needs.
 */
export type { LayerCapture, CurvatureBatch } from './capture';
export type {
  CurvatureBlock,
  CurvatureEstimator,
  CurvatureRequirements,
  CurvatureView,
  FisherType,
  MemoryReport,
} from './curvature';
export type { Communicator, ReduceOp } from './communicator';
export { createInProcessGroup } from './in-process-group';
export type { InProcessGroupOptions } from './in-process-group';
export type { DampingObservation, DampingSchedule } from './damping';
export { NatgradError, describeValue } from './errors';
export type { NatgradErrorCode, NatgradErrorDetails } from './errors';
export { factorSizes } from './layers';
export type { Conv2DLayerInfo, DenseLayerInfo, LayerInfo, LayerInfoBase, LayerKind, SkippedLayer } from './layers';
export type { LossFunction } from './loss';
export type { ParamMap, VariableMap } from './params';
export type { ProjectionDiagnostics, ProjectionResult, ProjectionStrategy } from './projection';
export { resolveSchedule } from './schedule';
export { ADD_N_MAX_INPUTS, sumTensors } from './sum-tensors';
export type { Schedule, ScheduleFn } from './schedule';
export type { JsonValue, StateDict, Stateful } from './state';
export type { GramScale, GramTerm, KroneckerProductRequest, StatisticsWorker } from './statistics-worker';
export type { UpdateRule } from './update-rule';
