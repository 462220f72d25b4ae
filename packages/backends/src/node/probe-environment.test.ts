// nodeEnvironment(): the Node probe environment a bundled app adapts with the modules and the Dawn
// binary it carries (packages it ships count as installed and import through its functions).
import { describe, expect, it } from 'vitest';
import { nodeEnvironment, nodeProbeEnvironment } from './probe-environment';

describe('nodeEnvironment', () => {
  it('resolves installed packages as Node does, and names shipped modules as bundled', async () => {
    const shipped = { marker: true };
    const env = nodeEnvironment({ modules: { 'not-an-installed-package': async () => shipped } });
    expect(env.packageDir('@tensorflow/tfjs-core')).toBe(nodeProbeEnvironment.packageDir('@tensorflow/tfjs-core'));
    expect(env.packageDir('@tensorflow/tfjs-core')).toMatch(/node_modules\/@tensorflow\/tfjs-core$/);
    expect(env.packageDir('not-an-installed-package')).toBe('<bundled not-an-installed-package>');
    expect(env.packageDir('another-absent-package')).toBeUndefined();
    expect(await env.importModule('not-an-installed-package')).toBe(shipped);
    await expect(env.importModule('another-absent-package')).rejects.toThrow();
  });

  it('asks the child to load the given Dawn entry', async () => {
    const env = nodeEnvironment({ dawnEntry: '/nonexistent/dawn.node' });
    const probe = await env.probeWebgpuAdapter!(['backend=vulkan']);
    expect(probe.outcome).toBe('failed');
    expect(probe.outcome === 'failed' && probe.error).toMatch(/nonexistent\/dawn\.node/);
  });
});
