/**
 * @natgrad/linalg: the dense SPD linear algebra tfjs lacks (damped inverse, Cholesky and solve,
 * symmetric eigendecomposition), on the host in float64, as backend matMuls (blocked, Newton–Schulz)
 * or through native TensorFlow ops, with an 'auto' policy that picks by backend and size.
 */
export { dampedInverse, dampedInverseDetailed, dampedInverses } from './inverse';
export type { BatchInverseOptions, BlockedResidualCheck, InverseFallback, InverseOptions, InverseResult } from './inverse';
export { FLOAT32_EPSILON, roundoffTolerance } from './roundoff-psd';
export { cholesky, choleskySolve } from './cholesky';
export type { MethodOptions } from './cholesky';
export { eigh } from './eigh';
export type { EighResult } from './eigh';
export {
  BLOCKED_LEAF_N,
  BLOCKED_MAX_RESIDUAL,
  FLOAT32_ACCUMULATION_GUARANTEE,
  FLOAT32_GUARANTEE,
  GPU_HOST_MAX_N,
  HOST_MAX_N,
  SUPPORTED_METHODS,
  accumulatesInFloat32,
  accumulationErrorBound,
  blockedResidualThreshold,
  chooseMethod,
} from './policy';
export type { ChooseOptions, ConcreteMethod, LinalgMethod, LinalgOperation, MethodChoice } from './policy';
export {
  JACOBI_MAX_N,
  hostCholesky,
  hostCholeskySolve,
  hostEigh,
  hostInverseFromCholesky,
  hostLowerInverseTransposed,
  hostSpdInverse,
  hostSymmetrize,
} from './host';
export type { HostEighResult } from './host';
export { hostInverseResidual, inverseResidual } from './residual';
export { RESIDUAL_PROBES, checkInverse } from './residual-check';
export type { ResidualCheck } from './residual-check';
export { detectNativeBackend } from './native';
export type { NativeOpAttr, NativeOpBackend } from './native';
export { newtonSchulzInverse } from './newton-schulz';
export type { NewtonSchulzOptions, NewtonSchulzResult } from './newton-schulz';
