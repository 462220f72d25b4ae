/**
 * One value per process, not per copy of a module. An app may load this package twice: its ESM and
 * its CommonJS build (one dependency imports, another requires), or, in the CommonJS build, the
 * main and the ./node entry (each a bundle with its own copy of the shared modules). Registries
 * that must be shared (device error logs, the kernels already wrapped) live on globalThis under a
 * Symbol.for key, which every copy finds.
 */
export function processSingleton<T>(key: string, make: () => T): T {
  const store = globalThis as Record<symbol, unknown>;
  const symbol = Symbol.for(`natgrad.backends.${key}`);
  if (!(symbol in store)) store[symbol] = make();
  return store[symbol] as T;
}
