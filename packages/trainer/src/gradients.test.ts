// What a consumer must import so that tfjs can differentiate, checked in child processes that load
// tfjs-core and tfjs-backend-cpu instead of the `@tensorflow/tfjs` umbrella the test setup loads.
// tfjs-core registers no gradient functions by itself, neither in its Node build (`main`) nor in its
// ESM build (`module`, what bundlers take). tfjs-layers registers all of them on import, in both, so a
// consumer of @natgrad/trainer (peer dependencies tfjs-core and tfjs-layers) needs no extra import. A
// consumer of tfjs-core alone (its own loop over @natgrad/curvature and @natgrad/projection) does:
// '@tensorflow/tfjs' in Node, '@tensorflow/tfjs-core/dist/register_all_gradients' in a bundle (that
// file is ESM with extensionless imports, which Node cannot load). The trainer case also fails if a
// library source imported the umbrella behind the peer dependencies and nothing else registered them.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const consumer = fileURLToPath(new URL('./testing/gradients-consumer.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const MISSING = /gradient function not found for Sum/;

interface Outcome {
  ok: boolean;
  result?: unknown;
  message?: string;
}

async function outcome(args: string[]): Promise<Outcome> {
  const { stdout } = await run(process.execPath, args, { cwd: repoRoot, timeout: 100_000 });
  const line = stdout.trim().split('\n').find((l) => l.startsWith('{'));
  if (line === undefined) throw new Error(`the consumer printed no result:\n${stdout}`);
  return JSON.parse(line);
}

function expectTrained(o: Outcome): void {
  expect(o).toMatchObject({ ok: true });
  const steps = o.result as { loss: number; skipped: boolean }[];
  expect(steps).toHaveLength(2);
  for (const s of steps) {
    expect(Number.isFinite(s.loss)).toBe(true);
    expect(s.skipped).toBe(false);
  }
}

// d/dw sum((x w)^2) with x = ones[4,3], w = ones[3,2]: every entry of x w is 3, so 2·4·3 = 24.
const CORE_RESULT = { loss: 72, grad: [24, 24, 24, 24, 24, 24] };

describe('gradients in Node (the packages’ main builds)', () => {
  const node = (mode: string) => outcome(['--import', 'tsx', '--conditions=natgrad-source', consumer, mode]);

  it('a Trainer trains with tfjs-core, tfjs-layers and a backend only (tfjs-layers registers the gradients)', async () => {
    expectTrained(await node('trainer'));
  });

  it('tfjs-core alone cannot differentiate', async () => {
    const o = await node('core');
    expect(o.ok).toBe(false);
    expect(o.message).toMatch(MISSING);
  });

  it("import '@tensorflow/tfjs' registers them", async () => {
    expect(await node('core-umbrella')).toEqual({ ok: true, result: CORE_RESULT });
  });
});

describe('gradients in a bundle (the packages’ module builds, as bundlers resolve them)', () => {
  let dir: string;
  let bundle: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'natgrad-gradients-'));
    bundle = join(dir, 'consumer.cjs');
    // platform node keeps Node's own util and crypto (tfjs-core's Node platform wants them when run
    // here); mainFields module-first picks the same tfjs builds a browser bundler would.
    await build({
      entryPoints: [consumer],
      bundle: true,
      platform: 'node',
      mainFields: ['module', 'main'],
      format: 'cjs',
      conditions: ['natgrad-source'],
      outfile: bundle,
      logLevel: 'silent',
    });
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('a Trainer trains with tfjs-core, tfjs-layers and a backend only', async () => {
    expectTrained(await outcome([bundle, 'trainer']));
  });

  it('tfjs-core alone cannot differentiate', async () => {
    const o = await outcome([bundle, 'core']);
    expect(o.ok).toBe(false);
    expect(o.message).toMatch(MISSING);
  });

  it("import '@tensorflow/tfjs-core/dist/register_all_gradients' registers them", async () => {
    expect(await outcome([bundle, 'core-registered'])).toEqual({ ok: true, result: CORE_RESULT });
  });
});
