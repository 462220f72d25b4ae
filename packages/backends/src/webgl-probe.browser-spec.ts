// In a real Chromium (the browser tier, vitest.browser.config.ts): what probeWebgl reads from the
// browser's WebGL and what the webgl loader makes of it. On CI's CPU-only machines Chromium's WebGL
// is SwiftShader (a software renderer that renders float32 textures): 'auto' skips it, by name it
// is taken; a page that forces float16 textures is refused. webgl-probe.test.ts covers the same
// verdicts with a simulated canvas, including devices this browser is not.
import * as tf from '@tensorflow/tfjs';
import { afterEach, describe, expect, it } from 'vitest';
import { browserContext, browserLoaders } from './browser-loaders';
import { selectBackend } from './select-backend';
import { probeWebgl, softwareWebglReason, webglLabel } from './webgl-probe';

declare const __NATGRAD_TEST_BACKEND__: string;

afterEach(async () => {
  tf.env().set('WEBGL_FORCE_F16_TEXTURES', false);
  await tf.setBackend(__NATGRAD_TEST_BACKEND__);
});

describe('WebGL in this browser', () => {
  it("probeWebgl reads WebGL 2 and the renderer; 'auto' skips it exactly when it is a software renderer", async () => {
    const identity = probeWebgl();
    if (typeof identity === 'string') throw new Error(`no WebGL in this Chromium: ${identity}`);
    expect(identity.version).toBe(2);
    expect(identity.renderer).toBeTruthy();
    const software = softwareWebglReason(identity);
    const auto = await browserLoaders.webgl(browserContext);
    expect(auto.available).toBe(software === undefined);
    expect(auto.reason).toContain(webglLabel(identity));
    if (software !== undefined) expect(auto.reason).toContain(`is a software device (${software}): skipped`);
    // The whole walk of 'auto', as a page that imported wasm (scripts/browser-tests/page-setup.ts) sees it.
    const selection = await selectBackend();
    expect(selection.attempts.find((a) => a.name === 'webgl')?.reason).toBe(auto.reason);
    console.info(selection.attempts.map((a) => `${a.name}: ${a.reason}`).join('\n'));
  });

  it('by name: taken, with float32 textures (a value needing 21 significant bits survives a round trip)', async () => {
    const selection = await selectBackend({ prefer: 'webgl' });
    expect(selection).toMatchObject({ name: 'webgl', tfBackend: 'webgl' });
    expect(selection.reason).toMatch(/^WebGL 2 renderer ".*" with float32 textures/);
    expect(tf.env().getBool('WEBGL_RENDER_FLOAT32_CAPABLE')).toBe(true);
    const x = tf.add(tf.tensor1d([1 + 2 ** -20]), 0); // computed on the device, not just uploaded
    expect(Array.from(await x.data())).toEqual([1 + 2 ** -20]);
    x.dispose();
  });

  it('a page that forces float16 textures is refused, in auto and by name', async () => {
    tf.env().set('WEBGL_FORCE_F16_TEXTURES', true);
    for (const allowSoftwareAdapter of [false, true]) {
      const result = await browserLoaders.webgl({ ...browserContext, allowSoftwareAdapter });
      expect(result.available).toBe(false);
    }
    const byName = await browserLoaders.webgl({ ...browserContext, allowSoftwareAdapter: true });
    expect(byName.reason).toMatch(/WEBGL_FORCE_F16_TEXTURES is set/);
  });
});
