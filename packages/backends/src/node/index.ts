/**
 * @natgrad/backends/node: the Node-only half of @natgrad/backends. selectBackend here finds and
 * imports installed backends (tfjs-node(-gpu), Dawn from npm `webgpu` with tfjs-backend-webgpu,
 * tfjs-backend-wasm; probing for a WebGPU adapter in a child process), and createStatisticsWorker
 * runs KFAC's statistics on a worker thread. Everything of the browser-safe main entry is
 * re-exported, so a Node app imports from this one entry.
 */
export * from '../index';
export { selectBackend } from './select-backend';
export { nodeEnvironment } from './probe-environment';
export type { NodeEnvironmentOptions } from './probe-environment';
export { createStatisticsWorker, statisticsWorkerScript } from './statistics-worker';
export type { StatisticsWorkerOptions } from './statistics-worker';
// The @natgrad/core type createStatisticsWorker returns, so a consumer can name it from here.
export type { StatisticsWorker } from '@natgrad/core';
