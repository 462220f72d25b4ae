/**
 * Picks the fastest usable TensorFlow.js backend and activates it. `prefer: 'auto'` walks
 * BACKEND_ORDER and falls back past anything absent or broken, and past a software WebGPU adapter
 * or software WebGL (slower than wasm) and past WebGL that stores float16 (refused by name too,
 * webgl-probe.ts); an explicit `prefer` either works or throws BACKEND_UNAVAILABLE with the
 * reason and what to install. Every probe result is kept in
 * `attempts`, so a run can log why it ended up on, say, wasm instead of a GPU. This file holds the
 * walk and the browser's selectBackend (browser-loaders.ts); @natgrad/backends/node runs the same
 * walk with loaders that find and import installed packages (node/select-backend.ts).
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError, describeValue } from '@natgrad/core';
import { BACKEND_ORDER, type BackendName, INSTALL_HINTS, isBackendName } from './backend-names';
import { browserContext, browserLoaders } from './browser-loaders';
import { type BackendLoader, type LoaderContext, firstLine } from './loader-types';
import type { ProbeEnvironment } from './probe-environment';
import type { WebgpuBackendClass } from './webgpu-device';
import { installWasmTrainingKernels } from './wasm-training-kernels';
import { installWebglKernelFixes } from './webgl-even-shared-dim';

export interface BackendAttempt {
  name: BackendName;
  available: boolean;
  reason: string;
}

export interface BackendSelection {
  name: BackendName;
  /** tf.getBackend() after selection, e.g. 'tensorflow' for both tfjs-node flavours. */
  tfBackend: string;
  reason: string;
  attempts: BackendAttempt[];
}

export interface SelectBackendOptions {
  /** A backend name, or 'auto' (default) for the first available in BACKEND_ORDER. */
  prefer?: BackendName | 'auto';
  webgpu?: {
    /** Node: options for Dawn's create(); default ['backend=vulkan']. */
    dawnOptions?: string[];
    /**
     * Browser: tfjs-backend-webgpu's WebGPUBackend class, so natgrad creates the device (the
     * adapter's storage-buffer limit, device errors as DEVICE_ERROR). Node imports it itself.
     */
    backendClass?: WebgpuBackendClass;
  };
  /** Replaces the probe of some backends (tests, or custom builds of a backend). */
  loaders?: Partial<Record<BackendName, BackendLoader>>;
  /** Replaces package resolution and dynamic import for the default loaders (tests). */
  environment?: ProbeEnvironment;
}

function invalid(summary: string, expected: string, received: unknown, fix: string): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', summary, { expected, received: describeValue(received), fix });
}

function validate(options: SelectBackendOptions): void {
  if (typeof options !== 'object' || options === null) {
    throw invalid('selectBackend options must be an object', 'an object or nothing', options, 'call selectBackend() or selectBackend({ prefer: "auto" })');
  }
  const prefer = options.prefer ?? 'auto';
  if (prefer !== 'auto' && !isBackendName(prefer)) {
    throw invalid('Unknown backend in selectBackend({ prefer })', `'auto' or one of ${BACKEND_ORDER.join(', ')}`, prefer, "use one of the listed names, or 'auto'");
  }
  const dawn = options.webgpu?.dawnOptions;
  if (dawn !== undefined && !(Array.isArray(dawn) && dawn.every((o) => typeof o === 'string'))) {
    throw invalid('webgpu.dawnOptions must be an array of strings', "strings like 'backend=vulkan'", dawn, "pass e.g. { dawnOptions: ['backend=vulkan'] }");
  }
  for (const [name, loader] of Object.entries(options.loaders ?? {})) {
    if (!isBackendName(name) || typeof loader !== 'function') {
      throw invalid('Bad entry in selectBackend({ loaders })', `functions keyed by ${BACKEND_ORDER.join(', ')}`, `${name}: ${typeof loader}`, 'key each loader by a backend name');
    }
  }
}

/** Probes one backend and, when it is available, makes it the active tfjs backend. */
async function tryBackend(name: BackendName, loader: BackendLoader, context: LoaderContext): Promise<{ attempt: BackendAttempt; tfBackend?: string }> {
  let result: Awaited<ReturnType<BackendLoader>>;
  try {
    result = await loader(context);
  } catch (error) {
    return { attempt: { name, available: false, reason: `probe failed: ${firstLine(error)}` } };
  }
  if (!result.available) return { attempt: { name, available: false, reason: result.reason } };
  let activated = false;
  try {
    activated = await tf.setBackend(result.tfBackend);
    if (activated) await tf.ready();
  } catch (error) {
    return { attempt: { name, available: false, reason: `tf.setBackend('${result.tfBackend}') threw: ${firstLine(error)}` } };
  }
  if (!activated || tf.getBackend() !== result.tfBackend) {
    return { attempt: { name, available: false, reason: `${result.reason}, but tf.setBackend('${result.tfBackend}') failed to initialise it` } };
  }
  if (name === 'wasm') installWasmTrainingKernels();
  // tfjs-webgl's packed matMul sums padding channels when the shared dimension is odd.
  if (name === 'webgl') installWebglKernelFixes();
  return { attempt: { name, available: true, reason: result.reason }, tfBackend: result.tfBackend };
}

/** The loaders and context a platform's selectBackend starts from. */
export interface PlatformDefaults {
  loaders: Readonly<Record<BackendName, BackendLoader>>;
  context: LoaderContext;
}

/** The walk over the candidates, for the browser's and Node's selectBackend alike. */
export async function selectBackendWith(defaults: PlatformDefaults, options: SelectBackendOptions): Promise<BackendSelection> {
  validate(options);
  const prefer = options.prefer ?? 'auto';
  const context: LoaderContext = {
    env: options.environment ?? defaults.context.env,
    dawnOptions: options.webgpu?.dawnOptions ?? defaults.context.dawnOptions,
    // Asking for webgpu or webgl by name accepts a software device (with a note in the reason).
    allowSoftwareAdapter: prefer === 'webgpu' || prefer === 'webgl',
    webgpuBackendClass: options.webgpu?.backendClass,
  };
  const candidates = prefer === 'auto' ? BACKEND_ORDER : [prefer];
  const attempts: BackendAttempt[] = [];
  for (const name of candidates) {
    const { attempt, tfBackend } = await tryBackend(name, options.loaders?.[name] ?? defaults.loaders[name], context);
    attempts.push(attempt);
    if (tfBackend !== undefined) return { name, tfBackend, reason: attempt.reason, attempts };
  }
  const tried = prefer === 'auto' ? attempts.map((a) => `${a.name}: ${a.reason}`).join('; ') : attempts[0].reason;
  throw new NatgradError(
    'BACKEND_UNAVAILABLE',
    prefer === 'auto' ? 'No TensorFlow.js backend could be started' : `The '${prefer}' backend is not available`,
    {
      expected: prefer === 'auto' ? 'at least the cpu backend' : `a working '${prefer}' backend`,
      received: tried,
      fix: prefer === 'auto' ? INSTALL_HINTS.cpu : `${INSTALL_HINTS[prefer]}, or use selectBackend({ prefer: 'auto' })`,
    },
  );
}

/**
 * Browser-safe selection: webgpu, webgl and wasm when the app imported their tfjs packages (and,
 * for webgpu, navigator.gpu has an adapter; for webgl, the device renders float32 textures), else
 * cpu. In Node, use selectBackend from
 * '@natgrad/backends/node', which also finds tfjs-node and Dawn (npm webgpu) and imports them.
 */
export async function selectBackend(options: SelectBackendOptions = {}): Promise<BackendSelection> {
  return selectBackendWith({ loaders: browserLoaders, context: browserContext }, options);
}
