import { defineConfig } from 'vitest/config';

// Tests run against the packages' TypeScript sources (the `natgrad-source` export condition),
// never against dist/, so no build is needed before testing.
export default defineConfig({
  resolve: { conditions: ['natgrad-source'] },
  ssr: { resolve: { conditions: ['natgrad-source'] } },
  test: {
    include: ['packages/*/src/**/*.test.ts', 'apps/*/src/**/*.test.ts', 'test/**/*.test.ts'],
    exclude: ['**/node_modules/**', '**/dist/**', '**/*.mpi.test.ts'],
    setupFiles: ['./test/setup-backend.ts'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
