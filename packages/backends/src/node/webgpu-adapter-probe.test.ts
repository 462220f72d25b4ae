import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ChildResult, firstNativeLine, interpretChildResult, probeWebgpuInChild } from './webgpu-adapter-probe';

const DAWN_NOISE = [
  'error: XDG_RUNTIME_DIR is invalid or not set in the environment.',
  '  Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.  ',
  ' - While initializing adapter (backend=BackendType::Vulkan)',
  '',
].join('\n');

const child = (over: Partial<ChildResult>): ChildResult => ({ status: 0, signal: null, stdout: '', stderr: '', ...over });

describe('interpretChildResult (fake child results)', () => {
  it('keeps only the first informative native line of a child that found no adapter', () => {
    expect(firstNativeLine(DAWN_NOISE)).toBe('Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.');
    const probe = interpretChildResult(child({ stdout: 'noise\nnatgrad-webgpu-probe:{"adapter":false}\n', stderr: DAWN_NOISE }));
    expect(probe).toEqual({ outcome: 'no-adapter', nativeMessage: 'Warning: Vulkan shaderUniform*ArrayDynamicIndexing required.' });
    expect(interpretChildResult(child({ stdout: 'natgrad-webgpu-probe:{"adapter":false}\n' }))).toEqual({ outcome: 'no-adapter' });
  });

  it('reports the adapter the child found', () => {
    const stdout = '\nnatgrad-webgpu-probe:{"adapter":true,"vendor":"nvidia","description":""}\n';
    expect(interpretChildResult(child({ stdout, stderr: DAWN_NOISE }))).toEqual({ outcome: 'adapter', vendor: 'nvidia', description: undefined });
  });

  it("keeps what tells a software adapter: architecture, device and isFallbackAdapter (strictly typed)", () => {
    const stdout =
      'natgrad-webgpu-probe:{"adapter":true,"vendor":"mesa","architecture":"software","device":"llvmpipe","description":"llvmpipe: Mesa 25","isFallbackAdapter":true}\n';
    expect(interpretChildResult(child({ stdout }))).toStrictEqual({
      outcome: 'adapter',
      vendor: 'mesa',
      architecture: 'software',
      device: 'llvmpipe',
      description: 'llvmpipe: Mesa 25',
      isFallbackAdapter: true,
    });
    const odd = 'natgrad-webgpu-probe:{"adapter":true,"isFallbackAdapter":"yes"}\n';
    expect(interpretChildResult(child({ stdout: odd }))).toMatchObject({ outcome: 'adapter', isFallbackAdapter: undefined });
  });

  it('turns a throwing Dawn, a crash, a timeout and garbage into failures with a reason', () => {
    expect(interpretChildResult(child({ stdout: 'natgrad-webgpu-probe:{"adapter":false,"error":"no suitable backends\\nmore"}\n' }))).toEqual({
      outcome: 'failed',
      error: 'no suitable backends',
    });
    expect(interpretChildResult(child({ status: null, signal: 'SIGSEGV', stderr: 'Segmentation fault\n' }))).toEqual({
      outcome: 'failed',
      error: 'the adapter probe was killed by SIGSEGV without a result',
      nativeMessage: 'Segmentation fault',
    });
    const timeout = Object.assign(new Error('spawnSync node ETIMEDOUT'), { code: 'ETIMEDOUT' });
    expect(interpretChildResult(child({ status: null, signal: 'SIGTERM', error: timeout }))).toEqual({
      outcome: 'failed',
      error: 'the adapter probe did not finish within 15 s',
    });
    expect(interpretChildResult(child({ stdout: 'natgrad-webgpu-probe:{oops\n' })).outcome).toBe('failed');
    expect(interpretChildResult(child({ status: 3 }))).toEqual({ outcome: 'failed', error: 'the adapter probe exited with code 3 without a result' });
  });

  it('passes the script, the module file and the Dawn options to the child', () => {
    const calls: string[][] = [];
    const probe = probeWebgpuInChild('/x/dawn.node', ['backend=vulkan'], (command, args) => {
      calls.push([command, ...args]);
      return child({ stdout: 'natgrad-webgpu-probe:{"adapter":false}\n' });
    });
    expect(probe.outcome).toBe('no-adapter');
    expect(calls[0][0]).toBe(process.execPath);
    expect(calls[0][1]).toBe('-e');
    expect(JSON.parse(calls[0][3])).toEqual(['/x/dawn.node', ['backend=vulkan']]);
  });
});

describe('probeWebgpuInChild with a real child and a simulated Dawn module', () => {
  const dir = mkdtempSync(join(tmpdir(), 'natgrad-dawn-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  function fakeDawn(name: string, body: string): string {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  }

  it('captures what the module writes to stderr and reports no adapter', () => {
    const file = fakeDawn(
      'none.mjs',
      `export function create(options) {
        process.stderr.write('error: XDG_RUNTIME_DIR is invalid\\nWarning: options ' + options.join(',') + '\\n');
        return { requestAdapter: async () => null };
      }`,
    );
    expect(probeWebgpuInChild(file, ['backend=vulkan'])).toEqual({ outcome: 'no-adapter', nativeMessage: 'Warning: options backend=vulkan' });
  });

  it('reports an adapter, and a create() that throws', () => {
    const found = fakeDawn('found.mjs', `export const create = () => ({ requestAdapter: async () => ({ info: { vendor: 'sim', description: 'Sim GPU' } }) });`);
    expect(probeWebgpuInChild(found, [])).toEqual({ outcome: 'adapter', vendor: 'sim', description: 'Sim GPU' });
    const broken = fakeDawn('broken.mjs', `export const create = () => { throw new Error('no suitable backends found'); };`);
    expect(probeWebgpuInChild(broken, [])).toEqual({ outcome: 'failed', error: 'no suitable backends found' });
  });
});
