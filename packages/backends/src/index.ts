/**
 * @natgrad/backends: picks and activates the fastest available TensorFlow.js backend and fills the
 * wasm backend's training gaps (a Conv2DBackpropFilter kernel and flag-free matMul transposes). It
 * refuses WebGL that stores tensors as float16 (webgl-probe.ts) and fixes tfjs-webgl's matMul over
 * an odd shared dimension (webgl-even-shared-dim.ts). On
 * WebGPU it creates the device with the adapter's storage-buffer limit and turns device errors into
 * NatgradError('DEVICE_ERROR'). This entry is browser-safe (no Node built-in): its selectBackend
 * uses what the page imported and navigator.gpu. Node's probes (tfjs-node, Dawn), the statistics
 * worker thread and its script are in '@natgrad/backends/node'.
 */
export { BACKEND_ORDER, INSTALL_HINTS, isBackendName } from './backend-names';
export type { BackendName } from './backend-names';
export type { BackendLoader, LoadResult, LoaderContext } from './loader-types';
export type { ProbeEnvironment, WebgpuAdapterProbe } from './probe-environment';
export { checkWebgpuErrors } from './device-errors';
export { createWebgpuBackend, deviceDescriptor } from './webgpu-device';
export type { DeviceAdapter, WebgpuBackendClass } from './webgpu-device';
export { softwareAdapterReason } from './software-adapter';
export { probeWebgl, softwareWebglReason } from './webgl-probe';
export type { WebglIdentity } from './webgl-probe';
export type { AdapterIdentity } from './software-adapter';
export { selectBackend } from './select-backend';
export type { BackendAttempt, BackendSelection, SelectBackendOptions } from './select-backend';
export { installWasmTrainingKernels } from './wasm-training-kernels';
export { installWebglKernelFixes } from './webgl-even-shared-dim';
export type { WebglKernelFixesReport } from './webgl-even-shared-dim';
export type { WasmTrainingKernelsReport } from './wasm-training-kernels';
export { batchMatMulGradA, batchMatMulGradB, batchMatMulGradConfig } from './matmul-gradient';
export type { TransposeStrategy } from './matmul-gradient';
export { copyIntoHost, copyToHost } from './host-copy';
