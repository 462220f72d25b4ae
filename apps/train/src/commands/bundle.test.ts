/**
 * The bundle is built and then run as a user would on another host: plain `node natgrad.cjs`
 * from a temporary folder with no node_modules anywhere above it, training on the wasm backend.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { writeBundle } from './bundle';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-bundle-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const twoCores = availableParallelism() >= 2;

describe('natgrad bundle', () => {
  it('writes one JS file, dawn.node and the wasm binaries, and the bundle trains with plain node', async () => {
    const dir = join(tmp, 'natgrad');
    const result = await writeBundle(dir);
    const paths = result.files.map((f) => f.path).sort();
    expect(paths).toEqual(
      ['README.txt', 'dist/linux-x64/dawn.node', 'natgrad.cjs', 'statistics-worker-thread.cjs', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm', 'tfjs-backend-wasm.wasm'].sort(),
    );
    expect(existsSync(join(tmp, 'node_modules'))).toBe(false);
    expect(statSync(join(dir, 'dist/linux-x64/dawn.node')).size).toBeGreaterThan(1e6);
    const { stdout } = await promisify(execFile)(
      process.execPath,
      [join(dir, 'natgrad.cjs'), 'train', '--backend', 'wasm', '--train-size', '32', '--test-size', '16', '--batch', '16', '--epochs', '1', '--json', '--runs-dir', join(tmp, 'runs'), '--statistics-worker', twoCores ? 'on' : 'off'],
      { cwd: tmp, env: { PATH: process.env.PATH ?? '' }, timeout: 120_000 },
    );
    const events = stdout.trim().split('\n').map((l) => JSON.parse(l));
    expect(events.map((e) => e.event)).toEqual(['backend', 'statistics', 'start', 'epoch', 'end']);
    expect(events[0].name).toBe('wasm');
    // The bundled statistics worker thread (statistics-worker-thread.cjs) ran the KFAC statistics.
    expect(events[1].worker).toBe(twoCores);
    expect(existsSync(join(events[4].runDir, 'checkpoint', 'trainer.ckpt'))).toBe(true);
    expect(existsSync(join(events[4].runDir, 'plot.svg'))).toBe(true);
  });
});
