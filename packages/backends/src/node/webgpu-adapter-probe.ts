/**
 * Asks for a WebGPU adapter in a short-lived child Node process before Dawn is started in this
 * one. Dawn (and the Vulkan loader and Mesa drivers under it) write diagnostics straight to file
 * descriptor 2 from C++, e.g. "Warning: Vulkan shaderUniform*ArrayDynamicIndexing required." on a
 * box with Mesa's software ICD but no GPU; JavaScript cannot intercept those in-process. The child
 * takes that noise: its stderr is captured, and only its first meaningful line is kept for the
 * "no adapter" reason. Dawn is initialised in-process only when the child found an adapter.
 */
import { type SpawnSyncReturns, spawnSync } from 'node:child_process';
import type { WebgpuAdapterProbe } from '../probe-environment';
import type { AdapterIdentity } from '../software-adapter';

export type { WebgpuAdapterProbe };

/** What the probe reads from a finished child; a subset of spawnSync's result (tests fake it). */
export type ChildResult = Pick<SpawnSyncReturns<string>, 'status' | 'signal' | 'stdout' | 'stderr' | 'error'>;

/** Marks the child's one result line, so stray stdout output from native code cannot be mistaken for it. */
const MARKER = 'natgrad-webgpu-probe:';

export const CHILD_TIMEOUT_MS = 15_000;

/**
 * The child: loads `file` (webgpu's index.js, or a dawn.node addon, which exports the same
 * `create`), calls create(options).requestAdapter() and prints one marked JSON line. process.exit
 * because a live Dawn instance can keep the event loop open.
 */
const CHILD_SCRIPT = `(async () => {
  const [file, options] = JSON.parse(process.argv[1]);
  const say = (o) => { process.stdout.write('\\n${MARKER}' + JSON.stringify(o) + '\\n'); process.exit(0); };
  try {
    const m = file.endsWith('.node') ? require(file) : await import(require('node:url').pathToFileURL(file).href);
    const adapter = await m.create(options).requestAdapter();
    const info = (adapter && adapter.info) || {};
    const fallback = typeof info.isFallbackAdapter === 'boolean' ? info.isFallbackAdapter : adapter && adapter.isFallbackAdapter;
    say({ adapter: adapter != null, vendor: info.vendor, architecture: info.architecture, device: info.device,
      description: info.description, isFallbackAdapter: fallback });
  } catch (e) {
    say({ adapter: false, error: String((e && e.message) || e) });
  }
})();`;

/** Lines every Vulkan/EGL start prints on a headless box; they explain nothing about the adapter. */
const UNINFORMATIVE = [/XDG_RUNTIME_DIR/];

/** First stderr line worth showing (trimmed), skipping blank and known-irrelevant lines. */
export function firstNativeLine(stderr: string): string | undefined {
  return stderr
    .split('\n')
    .map((line) => line.trim())
    .find((line) => line !== '' && !UNINFORMATIVE.some((re) => re.test(line)));
}

const firstLineOf = (text: string): string => text.split('\n').find((l) => l.trim() !== '')?.trim() ?? 'unknown error';

/** Turns a finished child into a probe result; never throws. */
export function interpretChildResult(child: ChildResult): WebgpuAdapterProbe {
  const stderr = child.stderr ?? '';
  const nativeMessage = firstNativeLine(stderr);
  const withNative = nativeMessage === undefined ? {} : { nativeMessage };
  if (child.error !== undefined) {
    const timedOut = (child.error as NodeJS.ErrnoException).code === 'ETIMEDOUT';
    return {
      outcome: 'failed',
      error: timedOut ? `the adapter probe did not finish within ${CHILD_TIMEOUT_MS / 1000} s` : `the adapter probe could not run: ${firstLineOf(child.error.message)}`,
      ...withNative,
    };
  }
  const line = (child.stdout ?? '').split('\n').find((l) => l.startsWith(MARKER));
  if (line === undefined) {
    const how = child.signal ? `was killed by ${child.signal}` : `exited with code ${child.status}`;
    return { outcome: 'failed', error: `the adapter probe ${how} without a result`, ...withNative };
  }
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(line.slice(MARKER.length));
  } catch {
    return { outcome: 'failed', error: `the adapter probe printed an unreadable result: ${line.slice(0, 120)}`, ...withNative };
  }
  if (typeof parsed.error === 'string') return { outcome: 'failed', error: firstLineOf(parsed.error), ...withNative };
  if (parsed.adapter !== true) return { outcome: 'no-adapter', ...withNative };
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const identity: AdapterIdentity = {
    vendor: text(parsed.vendor),
    architecture: text(parsed.architecture),
    device: text(parsed.device),
    description: text(parsed.description),
    isFallbackAdapter: typeof parsed.isFallbackAdapter === 'boolean' ? parsed.isFallbackAdapter : undefined,
  };
  return { outcome: 'adapter', ...identity };
}

/**
 * Runs the probe child. `file` is an absolute path to webgpu's entry module or to a dawn.node
 * addon. `run` replaces spawnSync in tests.
 */
export function probeWebgpuInChild(
  file: string,
  dawnOptions: string[],
  run: (command: string, args: string[]) => ChildResult = (command, args) =>
    spawnSync(command, args, { encoding: 'utf8', timeout: CHILD_TIMEOUT_MS, stdio: ['ignore', 'pipe', 'pipe'] }),
): WebgpuAdapterProbe {
  return interpretChildResult(run(process.execPath, ['-e', CHILD_SCRIPT, JSON.stringify([file, dawnOptions])]));
}
