import { defineConfig } from 'vitest/config';

// The MPI tier: tests named *.mpi.test.ts start real jobs with mpirun (Open MPI and MPICH, installed
// by scripts/mpi/prepare.sh). They are excluded from the default `pnpm test` (vitest.config.ts).
// One file at a time: every job already runs 2 or 4 ranks on the machine's cores.
export default defineConfig({
  resolve: { conditions: ['natgrad-source'] },
  ssr: { resolve: { conditions: ['natgrad-source'] } },
  test: {
    include: ['packages/*/src/**/*.mpi.test.ts', 'apps/*/src/**/*.mpi.test.ts', 'test/**/*.mpi.test.ts'],
    setupFiles: ['./test/setup-backend.ts'],
    pool: 'forks',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 300_000,
  },
});
