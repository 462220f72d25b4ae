/**
 * Test-only: how many inputs a single tf.addN could bind on the current backend. tfjs-webgpu binds
 * every addN input as a storage buffer of one shader stage, next to the output; the device's
 * maxStorageBuffersPerShaderStage is 8 by default (WebGPU's minimum) and 16 on Mesa's lavapipe.
 * Tests that must break a plain addN size their sums past this, so they catch a regression on
 * whatever device runs them.
 */
import * as tf from '@tensorflow/tfjs';

/** WebGPU's default maxStorageBuffersPerShaderStage, used off WebGPU (where addN has no limit). */
const WEBGPU_DEFAULT_STORAGE_BUFFERS = 8;

/** Storage buffers per shader stage of the active WebGPU device, or WebGPU's default elsewhere. */
export function storageBuffersPerStage(): number {
  const device = (tf.backend() as { device?: { limits?: { maxStorageBuffersPerShaderStage?: number } } }).device;
  return device?.limits?.maxStorageBuffersPerShaderStage ?? WEBGPU_DEFAULT_STORAGE_BUFFERS;
}
