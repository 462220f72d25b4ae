/**
 * @natgrad/trainer: a natural-gradient Trainer around an ordinary tf.LayersModel. It composes a
 * curvature estimator, damping, projection (FOP, arXiv 2508.13898), update rule and learning-rate
 * schedule; captures Dense/Conv2D layers; fits tensors or tf.data datasets; and writes atomic,
 * versioned checkpoints for bit-identical resumes. Presets build whole compositions in one line.
 */
export { Trainer } from './trainer';
export type { Composition, TrainerConfig } from './trainer-config';
export type { DistributedInfo } from './trainer';
export type { FitDatasetOptions, FitOptions, History, Logs, TrainerCallbacks } from './fit-loop';
export type { StepResult } from './step';
export { adamw, diagonal, diagonalFop, fop, kfac, presets, sgd } from './presets';
export type { CurvaturePresetOptions, DiagonalPresetOptions, PresetName, PresetOptions } from './presets';
export type { DiagonalMode } from '@natgrad/curvature';
export { AdamW, adamwRule } from './update-rules/adamw';
export type { AdamWOptions } from './update-rules/adamw';
export { Sgd, sgdRule } from './update-rules/sgd';
export type { SgdOptions } from './update-rules/sgd';
export {
  ReduceLROnPlateau,
  constant,
  cosineDecay,
  exponentialDecay,
  linearScaling,
  linearWarmup,
  stepDecay,
} from './lr-schedules';
export type { ReduceLROnPlateauOptions } from './lr-schedules';
export { clipByMeanNorm, globalNorm } from './clipping';
export { Rng } from './rng';
export { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, decodeCheckpoint, encodeCheckpoint, nonFiniteTensors, readCheckpointMeta } from './checkpoint-format';
export type { NonFiniteTensor } from './checkpoint-format';
export { readCheckpointProgress } from './trainer-checkpoint';
export type { CheckpointOptions } from './trainer-checkpoint';
export { PHASES } from './timings';
export type { Phase, PhaseTimings } from './timings';
export * from './capture/index';
export * from './losses/index';
export type { Dataset as DatasetLike, LazyIterator } from './tf-data';
// The @natgrad/core types this API takes and returns, so a consumer can name them from here.
export type {
  Communicator,
  CurvatureEstimator,
  DampingSchedule,
  FisherType,
  JsonValue,
  LayerCapture,
  LayerInfo,
  LossFunction,
  ParamMap,
  ProjectionDiagnostics,
  ProjectionStrategy,
  ReduceOp,
  Schedule,
  ScheduleFn,
  SkippedLayer,
  StateDict,
  StatisticsWorker,
  UpdateRule,
} from '@natgrad/core';
