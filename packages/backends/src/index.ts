/**
 * @natgrad/backends: picks and activates the fastest available TensorFlow.js backend
 * (tensorflow-gpu, webgpu, tensorflow, wasm, cpu) and fills the wasm backend's training gaps
 * (a Conv2DBackpropFilter kernel and flag-free matMul transposes). On WebGPU it creates the device
 * with the adapter's storage-buffer limit and turns device errors into NatgradError('DEVICE_ERROR').
 */
export { BACKEND_ORDER, INSTALL_HINTS, isBackendName } from './backend-names';
export type { BackendName } from './backend-names';
export { defaultLoaders, findTfjsNodeBinding } from './loaders';
export type { BackendLoader, LoadResult, LoaderContext } from './loaders';
export { nodeProbeEnvironment } from './probe-environment';
export type { ProbeEnvironment } from './probe-environment';
export { probeWebgpuInChild } from './webgpu-adapter-probe';
export { checkWebgpuErrors } from './device-errors';
export { createWebgpuBackend, deviceDescriptor } from './webgpu-device';
export type { DeviceAdapter, WebgpuBackendClass } from './webgpu-device';
export { softwareAdapterReason } from './software-adapter';
export type { AdapterIdentity } from './software-adapter';
export type { WebgpuAdapterProbe } from './webgpu-adapter-probe';
export { selectBackend } from './select-backend';
export type { BackendAttempt, BackendSelection, SelectBackendOptions } from './select-backend';
export { installWasmTrainingKernels } from './wasm-training-kernels';
export type { WasmTrainingKernelsReport } from './wasm-training-kernels';
export { batchMatMulGradA, batchMatMulGradB, batchMatMulGradConfig } from './matmul-gradient';
export type { TransposeStrategy } from './matmul-gradient';
export { copyToHost } from './host-copy';
export { createStatisticsWorker } from './statistics-worker';
export type { StatisticsWorkerOptions } from './statistics-worker';
