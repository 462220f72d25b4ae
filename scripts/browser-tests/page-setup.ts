/**
 * The browser tier's first setup file (vitest.browser.config.ts), run in the page before
 * test/setup-backend.ts. It holds what only a page needs from packages the repository root does not
 * depend on (they resolve through the config's aliases to @natgrad/backends' copies, so the root's
 * type-check of test/ never sees them): tfjs-backend-wasm is told where its .wasm files are served
 * (a pre-bundled module looks beside itself and finds nothing), and tfjs-backend-webgpu's
 * WebGPUBackend class is handed to test/setup-backend.ts for selectBackend's webgpu.backendClass.
 */
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { WebGPUBackend } from '@tensorflow/tfjs-backend-webgpu';

/** Replaced by vitest.browser.config.ts (`define`). */
declare const __NATGRAD_WASM_FILES__: string;

setWasmPaths(__NATGRAD_WASM_FILES__);
(globalThis as Record<symbol, unknown>)[Symbol.for('natgrad.test.WebGPUBackend')] = WebGPUBackend;
