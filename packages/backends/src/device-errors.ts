/**
 * Makes WebGPU device errors loud. WebGPU reports a validation, out-of-memory or internal error
 * only as an 'uncapturederror' event on the device; tfjs-backend-webgpu installs no listener, so
 * an op Dawn rejects (e.g. tf.addN with more inputs than storage buffers a shader stage may bind)
 * silently yields zeros or stale memory, and so does every op submitted with it. natgrad's WebGPU
 * backend records each such error here and throws it as NatgradError('DEVICE_ERROR') at the next
 * awaited read (the backend's read() is wrapped, see webgpu-device.ts), where the caller would
 * otherwise first see the wrong numbers; `checkWebgpuErrors()` asks explicitly.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError } from '@natgrad/core';
import { processSingleton } from './process-singleton';

/** The part of a GPUDevice this file uses (tests pass a simulated one). */
export interface ErrorReportingDevice {
  addEventListener(type: 'uncapturederror', listener: (event: { error: { message?: string; constructor?: { name?: string } } }) => void): void;
  lost: Promise<{ reason?: string; message?: string }>;
  queue: { onSubmittedWorkDone(): Promise<unknown> };
}

interface DeviceErrorLog {
  errors: string[];
  /** Set while natgrad destroys the device itself, so that loss is not reported as an error. */
  closing: boolean;
}

/** Shared by every copy of this module in the process (process-singleton.ts). */
const logs = processSingleton('deviceErrorLogs', () => new WeakMap<object, DeviceErrorLog>());

/** Errors kept per device between two reads; later ones are counted, not stored. */
const MAX_KEPT = 8;

function record(log: DeviceErrorLog, message: string): void {
  if (log.errors.length < MAX_KEPT) log.errors.push(message);
  else log.errors[MAX_KEPT - 1] = `${log.errors[MAX_KEPT - 1]} (and more)`;
}

/** Starts recording `device`'s uncaptured errors and its loss. Idempotent. */
export function watchDeviceErrors(device: ErrorReportingDevice): void {
  if (logs.has(device)) return;
  const log: DeviceErrorLog = { errors: [], closing: false };
  logs.set(device, log);
  device.addEventListener('uncapturederror', (event) => {
    // GPUValidationError, GPUOutOfMemoryError or GPUInternalError.
    const named = event.error.constructor?.name;
    const kind = named && named !== 'Object' ? named : 'GPUError';
    // Dawn's messages are several lines ("While calling ..." context); the first says what failed.
    const first = (event.error.message ?? '').split('\n').find((line) => line.trim() !== '') ?? 'no message';
    record(log, `${kind}: ${first.trim()}`);
  });
  void device.lost.then((info) => {
    if (!log.closing) record(log, `device lost (${info.reason ?? 'unknown'}): ${info.message ?? ''}`.trim());
  });
}

/** Marks `device` as being destroyed by natgrad (its loss is expected, not an error). */
export function markDeviceClosing(device: object): void {
  const log = logs.get(device);
  if (log !== undefined) log.closing = true;
}

/** What to do about the first recorded error. */
function fixFor(first: string): string {
  if (/storage buffers .* exceeds the maximum per-stage limit/i.test(first)) {
    return 'an op binds more storage buffers than the device allows: sum with sumTensors from @natgrad/core instead of tf.addN (or split the op); results computed since the previous read are invalid';
  }
  if (/device lost/i.test(first)) return 'the device is gone: restart the process (and check the GPU driver); tensors on it are lost';
  if (/out ?of ?memory/i.test(first)) return 'use a smaller batch or model; results computed since the previous read are invalid';
  return 'results computed since the previous read are invalid; report the op named in the message (run with the cpu backend to compare)';
}

/** Takes (and clears) the errors recorded for `device` as one NatgradError, or undefined. */
export function takeDeviceError(device: object): NatgradError | undefined {
  const log = logs.get(device);
  if (log === undefined || log.errors.length === 0) return undefined;
  const errors = log.errors.splice(0);
  return new NatgradError('DEVICE_ERROR', 'The WebGPU device reported an error: an op did not run, its result is garbage', {
    expected: 'no WebGPU validation, out-of-memory, internal error or device loss',
    received: errors.length === 1 ? errors[0] : `${errors.length} errors: ${errors.join(' | ')}`,
    fix: fixFor(errors[0]),
  });
}

/** Throws the recorded errors of `device` (and clears them). */
export function throwIfDeviceError(device: object): void {
  const error = takeDeviceError(device);
  if (error !== undefined) throw error;
}

/** The GPUDevice of a tfjs WebGPU backend (WebGPUBackend keeps it as `device`). */
function deviceOf(backend: tf.KernelBackend): ErrorReportingDevice | undefined {
  const device = (backend as { device?: unknown }).device;
  return device != null && logs.has(device as object) ? (device as ErrorReportingDevice) : undefined;
}

/**
 * Waits until the active WebGPU backend's submitted work has run, then throws NatgradError
 * ('DEVICE_ERROR') if its device reported an error since the last read or check. Ops queued but
 * not yet submitted are submitted first. A no-op on other backends and on WebGPU backends natgrad
 * did not create.
 */
export async function checkWebgpuErrors(backend: tf.KernelBackend = tf.backend()): Promise<void> {
  const device = deviceOf(backend);
  if (device === undefined) return;
  // tfjs-webgpu batches dispatches in a command encoder until a read or a batch-size limit.
  // Its open compute pass must end before the encoder is finished (as its own reads do).
  const pending = backend as { commandEncoder?: unknown; endComputePassEncoder?: () => void; submitQueue?: () => void };
  if (pending.commandEncoder != null && pending.endComputePassEncoder && pending.submitQueue) {
    pending.endComputePassEncoder();
    pending.submitQueue();
  }
  await device.queue.onSubmittedWorkDone();
  throwIfDeviceError(device);
}
