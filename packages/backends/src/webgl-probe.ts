/**
 * What natgrad asks of a browser's WebGL before it trains on it, and why. tfjs-backend-webgl
 * stores every tensor in a texture; where the device cannot render to float32 textures (many
 * phones, some integrated GPUs) or the page set WEBGL_FORCE_F16_TEXTURES, it silently stores them
 * as float16: 11 significant bits (u = 2⁻¹¹ ≈ 4.9e-4) and nothing above 65504. A Kronecker factor
 * then carries a relative error of ~5e-4 per entry, so its damped inverse is wrong as soon as
 * κ ≳ 2e3, and a sum of squared activations over a batch overflows to Infinity. natgrad therefore
 * refuses such a device (auto and by name alike) instead of training on numbers it cannot
 * vouch for. A software WebGL (SwiftShader, llvmpipe, WARP) works but is slower than wasm on the
 * same cores, so, as with software WebGPU adapters, 'auto' skips it and an explicit 'webgl' takes
 * it (tfjs itself refuses such a context unless SOFTWARE_WEBGL_ENABLED is set, which the loader
 * then sets).
 */
import * as tf from '@tensorflow/tfjs-core';
import { type LoadResult, unavailable } from './loader-types';
import { softwareAdapterReason } from './software-adapter';

/** What a throwaway WebGL context says about the device (no tfjs involved). */
export interface WebglIdentity {
  /** 2 for WebGL 2, 1 for WebGL 1. */
  version: 1 | 2;
  /** UNMASKED_RENDERER_WEBGL where the browser exposes it, else RENDERER. */
  renderer?: string;
  vendor?: string;
  /**
   * The browser creates the context only without failIfMajorPerformanceCaveat: it says the device
   * is a fallback (in Chromium: SwiftShader) much slower than a GPU.
   */
  performanceCaveat: boolean;
}

interface GlLike {
  RENDERER: number;
  VENDOR: number;
  getExtension(name: string): unknown;
  getParameter(name: number): unknown;
}

interface CanvasLike {
  getContext(type: string, attributes?: object): unknown;
}

function newCanvas(): CanvasLike | undefined {
  const g = globalThis as { OffscreenCanvas?: new (w: number, h: number) => CanvasLike; document?: { createElement(tag: string): CanvasLike } };
  if (typeof g.OffscreenCanvas === 'function') return new g.OffscreenCanvas(1, 1);
  if (typeof g.document?.createElement === 'function') return g.document.createElement('canvas');
  return undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** A context with tfjs's own attributes, on a fresh canvas (a canvas keeps its first context type). */
function context(type: 'webgl2' | 'webgl', failIfMajorPerformanceCaveat: boolean): GlLike | undefined {
  const gl = newCanvas()?.getContext(type, { alpha: false, antialias: false, depth: false, stencil: false, failIfMajorPerformanceCaveat });
  return gl == null ? undefined : (gl as GlLike);
}

/**
 * Opens a throwaway context (WebGL 2, else 1) and reads the renderer, then releases it. Returns a
 * one-line reason instead when there is no canvas or no WebGL.
 */
export function probeWebgl(): WebglIdentity | string {
  if (newCanvas() === undefined) return 'no canvas here (WebGL needs a page, or a worker with OffscreenCanvas)';
  for (const [type, version] of [['webgl2', 2], ['webgl', 1]] as const) {
    let gl = context(type, true);
    const performanceCaveat = gl === undefined;
    gl ??= context(type, false);
    if (gl === undefined) continue;
    const debug = gl.getExtension('WEBGL_debug_renderer_info') as { UNMASKED_RENDERER_WEBGL: number; UNMASKED_VENDOR_WEBGL: number } | null;
    const renderer = text(gl.getParameter(debug?.UNMASKED_RENDERER_WEBGL ?? gl.RENDERER));
    const vendor = text(gl.getParameter(debug?.UNMASKED_VENDOR_WEBGL ?? gl.VENDOR));
    // Browsers cap live contexts (Chromium: 16); give this one back before tfjs makes its own.
    (gl.getExtension('WEBGL_lose_context') as { loseContext(): void } | null)?.loseContext();
    return { version, renderer, vendor, performanceCaveat };
  }
  return 'the browser gives no WebGL context (WebGL is turned off, blocklisted for this GPU, or unsupported)';
}

/** "vendor renderer" for messages. */
export function webglLabel(identity: WebglIdentity): string {
  return [identity.vendor, identity.renderer].filter((s) => s).join(' ') || 'unnamed renderer';
}

/** Why the identity is a software renderer (one clause), or undefined for a GPU. */
export function softwareWebglReason(identity: WebglIdentity): string | undefined {
  if (identity.performanceCaveat) return 'the browser reports a major performance caveat (no GPU acceleration)';
  return softwareAdapterReason({ vendor: identity.vendor, description: identity.renderer })?.replace('its description', 'its renderer');
}

/**
 * The float16 check, on tfjs-backend-webgl's own flags (so a page's WEBGL_FORCE_F16_TEXTURES
 * counts): undefined when tensors will be float32 textures, else the reason to refuse.
 */
export function float16Refusal(): string | undefined {
  const env = tf.env();
  if (env.getBool('WEBGL_FORCE_F16_TEXTURES')) {
    return 'the flag WEBGL_FORCE_F16_TEXTURES is set, so tfjs-backend-webgl would store tensors as float16 (11 significant bits, at most 65504); natgrad\'s Kronecker factors and their inverses need float32: unset the flag';
  }
  if (!env.getBool('WEBGL_RENDER_FLOAT32_CAPABLE')) {
    return 'this device cannot render to float32 textures (WEBGL_RENDER_FLOAT32_CAPABLE is false: no EXT_color_buffer_float), so tfjs-backend-webgl would store tensors as float16 (11 significant bits, at most 65504); natgrad\'s Kronecker factors and their inverses need float32: use webgpu or wasm';
  }
  return undefined;
}

/** The browser's 'webgl' loader: see the module header for what it refuses and why. */
export function webglLoadResult(allowSoftware: boolean, probe: () => WebglIdentity | string = probeWebgl): LoadResult {
  if (tf.findBackendFactory('webgl') == null) {
    return unavailable('@tensorflow/tfjs-backend-webgl is not imported (import it, or @tensorflow/tfjs, before selectBackend)');
  }
  const identity = probe();
  if (typeof identity === 'string') return unavailable(identity);
  const label = webglLabel(identity);
  const software = softwareWebglReason(identity);
  if (software !== undefined) {
    if (!allowSoftware) {
      return unavailable(
        `WebGL renderer "${label}" is a software device (${software}): skipped, it trains slower than wasm on the same CPU; selectBackend({ prefer: 'webgl' }) takes it anyway`,
      );
    }
    // tfjs-backend-webgl asks for failIfMajorPerformanceCaveat unless this flag is set, and would
    // then find no context at all.
    tf.env().set('SOFTWARE_WEBGL_ENABLED', true);
  }
  // tfjs evaluates (and caches) its flags on its own context, made with its own attributes.
  if (tf.env().getNumber('WEBGL_VERSION') === 0) {
    return unavailable(
      `WebGL renderer "${label}" works, but tfjs-backend-webgl found no context (it caches that verdict: on a software renderer, call selectBackend before anything initialises tfjs's webgl backend)`,
    );
  }
  const refusal = float16Refusal();
  if (refusal !== undefined) return unavailable(`WebGL renderer "${label}": ${refusal}`);
  const note = software === undefined ? '' : `; a software device (${software}), far slower than a GPU`;
  return { available: true, tfBackend: 'webgl', reason: `WebGL ${identity.version} renderer "${label}" with float32 textures${note}` };
}
