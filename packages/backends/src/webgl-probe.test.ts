// The WebGL loader's verdicts with a simulated canvas and simulated tfjs-backend-webgl flags: a GPU
// with float32 textures is taken, float16-only devices are refused (auto and by name), a software
// renderer is skipped in auto and taken by name. The real Chromium is in webgl-probe.browser-spec.ts.
import * as tf from '@tensorflow/tfjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { browserContext, browserLoaders } from './browser-loaders';
import { selectBackend } from './select-backend';
import { probeWebgl, softwareWebglReason, webglLoadResult } from './webgl-probe';

const RENDERER = 0x1f01;
const VENDOR = 0x1f00;
const UNMASKED_RENDERER = 0x9246;
const UNMASKED_VENDOR = 0x9245;

interface FakeDevice {
  /** Context types the fake browser offers. */
  types: string[];
  /** Whether it refuses contexts asked for with failIfMajorPerformanceCaveat (a software fallback). */
  caveat: boolean;
  renderer: string;
  vendor: string;
  /** Whether WEBGL_debug_renderer_info is exposed (else RENDERER/VENDOR answer, masked). */
  debugInfo: boolean;
}

/** Installs an OffscreenCanvas whose contexts describe `device`; returns the lost-context count. */
function fakeBrowser(device: FakeDevice): { lost: number } {
  const state = { lost: 0 };
  class FakeCanvas {
    getContext(type: string, attributes?: { failIfMajorPerformanceCaveat?: boolean }) {
      if (!device.types.includes(type)) return null;
      if (device.caveat && attributes?.failIfMajorPerformanceCaveat === true) return null;
      return {
        RENDERER,
        VENDOR,
        getExtension(name: string) {
          if (name === 'WEBGL_debug_renderer_info') return device.debugInfo ? { UNMASKED_RENDERER_WEBGL: UNMASKED_RENDERER, UNMASKED_VENDOR_WEBGL: UNMASKED_VENDOR } : null;
          if (name === 'WEBGL_lose_context') return { loseContext: () => state.lost++ };
          return null;
        },
        getParameter(p: number) {
          if (p === UNMASKED_RENDERER) return device.renderer;
          if (p === UNMASKED_VENDOR) return device.vendor;
          if (p === RENDERER) return 'WebKit WebGL';
          if (p === VENDOR) return 'WebKit';
          return null;
        },
      };
    }
  }
  vi.stubGlobal('OffscreenCanvas', FakeCanvas);
  return state;
}

const GPU: FakeDevice = { types: ['webgl2', 'webgl'], caveat: false, renderer: 'ANGLE (NVIDIA, NVIDIA GeForce RTX 3060, OpenGL 4.5)', vendor: 'Google Inc. (NVIDIA)', debugInfo: true };
const SWIFTSHADER: FakeDevice = {
  types: ['webgl2', 'webgl'],
  caveat: true,
  renderer: 'ANGLE (Google, Vulkan 1.3.0 (SwiftShader Device (Subzero) (0x0000C0DE)), SwiftShader driver)',
  vendor: 'Google Inc. (Google)',
  debugInfo: true,
};

/** tfjs-backend-webgl's flags as a browser would evaluate them (Node has no WebGL to ask). */
function webglFlags(flags: { version?: number; float32?: boolean; forceF16?: boolean }): void {
  tf.env().set('WEBGL_VERSION', flags.version ?? 2);
  tf.env().set('WEBGL_RENDER_FLOAT32_CAPABLE', flags.float32 ?? true);
  tf.env().set('WEBGL_FORCE_F16_TEXTURES', flags.forceF16 ?? false);
  tf.env().set('SOFTWARE_WEBGL_ENABLED', false);
}

// Node registers no 'webgl' factory (tfjs-backend-webgl registers it only in a browser): these
// tests register one that is never activated, so the loader sees an imported package.
beforeEach(() => {
  tf.registerBackend('webgl', () => {
    throw new Error('not activated in these tests');
  });
});

afterEach(() => {
  vi.unstubAllGlobals();
  tf.removeBackend('webgl');
  webglFlags({ version: 0, float32: false });
});

describe('probeWebgl', () => {
  it('reads WebGL 2 and the unmasked renderer of a GPU, and gives the context back', () => {
    const state = fakeBrowser(GPU);
    expect(probeWebgl()).toEqual({ version: 2, renderer: GPU.renderer, vendor: GPU.vendor, performanceCaveat: false });
    expect(state.lost).toBe(1);
  });

  it('falls back to WebGL 1 and to the masked RENDERER; no context and no canvas are reasons', () => {
    fakeBrowser({ ...GPU, types: ['webgl'], debugInfo: false });
    expect(probeWebgl()).toEqual({ version: 1, renderer: 'WebKit WebGL', vendor: 'WebKit', performanceCaveat: false });
    fakeBrowser({ ...GPU, types: [] });
    expect(probeWebgl()).toMatch(/gives no WebGL context/);
    vi.unstubAllGlobals();
    vi.stubGlobal('OffscreenCanvas', undefined);
    vi.stubGlobal('document', undefined);
    expect(probeWebgl()).toMatch(/no canvas here/);
  });

  it('recognises SwiftShader by the performance caveat and by its renderer name', () => {
    fakeBrowser(SWIFTSHADER);
    const identity = probeWebgl();
    if (typeof identity === 'string') throw new Error(identity);
    expect(identity.performanceCaveat).toBe(true);
    expect(softwareWebglReason(identity)).toMatch(/major performance caveat/);
    expect(softwareWebglReason({ ...identity, performanceCaveat: false })).toBe('its renderer names SwiftShader, a CPU implementation');
    expect(softwareWebglReason({ version: 2, renderer: GPU.renderer, vendor: GPU.vendor, performanceCaveat: false })).toBeUndefined();
  });
});

describe('the webgl loader (webglLoadResult)', () => {
  it('takes a GPU whose WebGL renders float32 textures', () => {
    fakeBrowser(GPU);
    webglFlags({});
    expect(webglLoadResult(false)).toEqual({
      available: true,
      tfBackend: 'webgl',
      reason: `WebGL 2 renderer "${GPU.vendor} ${GPU.renderer}" with float32 textures`,
    });
  });

  it('refuses float16-only textures in auto and by name, with the reason', () => {
    fakeBrowser(GPU);
    for (const allowSoftware of [false, true]) {
      webglFlags({ float32: false });
      const incapable = webglLoadResult(allowSoftware);
      expect(incapable.available).toBe(false);
      expect(incapable.reason).toMatch(/cannot render to float32 textures .*float16 .*need float32: use webgpu or wasm/);
      webglFlags({ forceF16: true });
      const forced = webglLoadResult(allowSoftware);
      expect(forced.available).toBe(false);
      expect(forced.reason).toMatch(/WEBGL_FORCE_F16_TEXTURES is set.*unset the flag/);
    }
  });

  it('skips a software renderer in auto without touching tfjs flags; by name it enables software WebGL', () => {
    fakeBrowser(SWIFTSHADER);
    webglFlags({});
    const skipped = webglLoadResult(false);
    expect(skipped.available).toBe(false);
    expect(skipped.reason).toMatch(/SwiftShader.*is a software device \(the browser reports a major performance caveat.*\): skipped.*prefer: 'webgl'/);
    expect(tf.env().getBool('SOFTWARE_WEBGL_ENABLED')).toBe(false);
    const taken = webglLoadResult(true);
    expect(taken).toMatchObject({ available: true, tfBackend: 'webgl' });
    expect(taken.reason).toMatch(/with float32 textures; a software device .*far slower than a GPU/);
    expect(tf.env().getBool('SOFTWARE_WEBGL_ENABLED')).toBe(true);
    // A software device is still refused when it stores float16.
    webglFlags({ float32: false });
    expect(webglLoadResult(true).available).toBe(false);
  });

  it('says so when tfjs-backend-webgl is not imported, or tfjs found no context', () => {
    fakeBrowser(GPU);
    webglFlags({ version: 0 });
    expect(webglLoadResult(false).reason).toMatch(/tfjs-backend-webgl found no context/);
    tf.removeBackend('webgl');
    expect(webglLoadResult(false).reason).toMatch(/tfjs-backend-webgl is not imported/);
    tf.registerBackend('webgl', () => {
      throw new Error('not activated in these tests');
    });
  });

  it("selectBackend of the main entry names every skipped backend's reason, webgl included", async () => {
    fakeBrowser(SWIFTSHADER);
    webglFlags({});
    const before = tf.getBackend();
    const selection = await selectBackend({ loaders: { wasm: async () => ({ available: false, reason: 'simulated: not imported' }) } });
    expect(selection.name).toBe('cpu');
    expect(selection.attempts.map((a) => a.name)).toEqual(['tensorflow-gpu', 'webgpu', 'webgl', 'tensorflow', 'wasm', 'cpu']);
    expect(selection.attempts[2].reason).toMatch(/software device .*skipped/);
    expect((await browserLoaders.webgl({ ...browserContext, allowSoftwareAdapter: true })).available).toBe(true);
    await tf.setBackend(before);
  });
});
