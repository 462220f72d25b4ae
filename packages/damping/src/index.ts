/**
 * @natgrad/damping: the lambda added to the curvature before inversion. Step-driven schedules
 * (constant, step, exponential, cosine, piecewise) and Levenberg-Marquardt adaptation from the
 * reduction ratio, all DampingSchedule objects with serialisable state; plus the quadratic model
 * q(delta) and the guarded reduction ratio the trainer measures for LM.
 */
export { constant } from './constant';
export { stepDecay } from './step-decay';
export type { StepDecayOptions } from './step-decay';
export { exponentialDecay } from './exponential-decay';
export type { ExponentialDecayOptions } from './exponential-decay';
export { cosineDecay } from './cosine-decay';
export type { CosineDecayOptions } from './cosine-decay';
export { piecewiseConstant } from './piecewise-constant';
export type { PiecewiseConstantOptions } from './piecewise-constant';
export type { NonFiniteOptions } from './internal/fixed-schedule';
export { LevenbergMarquardtDamping, levenbergMarquardt } from './levenberg-marquardt';
export type { LevenbergMarquardtOptions, LmConfig } from './levenberg-marquardt';
// The @natgrad/core types this API takes and returns, so a consumer can name them from here.
export type { CurvatureView, DampingObservation, DampingSchedule, JsonValue, ParamMap, StateDict } from '@natgrad/core';
export { quadraticModelChange, readReductionRatio, reductionRatio } from './quadratic-model';
export { dampingFromState } from './from-state';
