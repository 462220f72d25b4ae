/**
 * Recognises a software WebGPU adapter (a GPU emulated on the CPU: Mesa's lavapipe/llvmpipe,
 * SwiftShader, WARP). Such a device runs natgrad's training at a few GFLOP/s, far slower than the
 * wasm backend on the same cores, so `selectBackend({ prefer: 'auto' })` must not pick it; an
 * explicit `prefer: 'webgpu'` still takes it (CI's WebGPU tier runs on lavapipe on purpose).
 */

/** What WebGPU tells about an adapter (GPUAdapterInfo, plus the older GPUAdapter.isFallbackAdapter). */
export interface AdapterIdentity {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}

/** Names of CPU implementations of Vulkan/D3D/Metal that WebGPU implementations expose. */
const SOFTWARE_NAMES = /llvmpipe|lavapipe|swiftshader|\bwarp\b|microsoft basic render/i;

/**
 * Why `info` describes a software adapter (one short clause), or undefined for a hardware one.
 * isFallbackAdapter alone is enough (WebGPU's own flag for "may be a software implementation").
 */
export function softwareAdapterReason(info: AdapterIdentity | undefined): string | undefined {
  if (info === undefined) return undefined;
  if (info.isFallbackAdapter === true) return 'the adapter reports isFallbackAdapter';
  if (info.architecture?.toLowerCase() === 'software') return "its architecture is 'software'";
  for (const field of ['description', 'device', 'vendor'] as const) {
    const match = info[field]?.match(SOFTWARE_NAMES);
    if (match) return `its ${field} names ${match[0]}, a CPU implementation`;
  }
  return undefined;
}

/** Reads the identity fields from a GPUAdapter (info is a GPUAdapterInfo; older Dawn builds lack fields). */
export function adapterIdentity(adapter: unknown): AdapterIdentity {
  const a = adapter as { info?: Record<string, unknown>; isFallbackAdapter?: unknown };
  const info = a.info ?? {};
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined);
  const fallback = typeof info.isFallbackAdapter === 'boolean' ? info.isFallbackAdapter : a.isFallbackAdapter;
  return {
    vendor: text(info.vendor),
    architecture: text(info.architecture),
    device: text(info.device),
    description: text(info.description),
    isFallbackAdapter: typeof fallback === 'boolean' ? fallback : undefined,
  };
}

/** "vendor description" for messages. */
export function adapterLabel(info: AdapterIdentity | undefined): string {
  return [info?.vendor, info?.description].filter((s) => s).join(' ') || 'unnamed adapter';
}
