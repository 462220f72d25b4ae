// initMpi() without a launcher and without MPI_Init: what happens when no MPI library can be used.
// The collectives themselves run under mpirun in mpi.mpi.test.ts (the MPI tier).
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { initMpi } from './init-mpi';

async function failure(promise: Promise<unknown>): Promise<NatgradError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(NatgradError);
    return error as NatgradError;
  }
  throw new Error('expected a rejection');
}

describe('initMpi without a usable library', () => {
  it('names the file it tried and how to install MPI when the library does not exist', async () => {
    const error = await failure(initMpi({ library: '/nonexistent/lib/libmpi.so.40' }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.received).toContain('/nonexistent/lib/libmpi.so.40');
    expect(error.fix).toContain('apt install openmpi-bin');
    expect(error.fix).toContain('dnf install');
  });

  it('refuses a shared library that is not MPI', async () => {
    const error = await failure(initMpi({ library: 'libc.so.6' }));
    expect(error.code).toBe('BACKEND_UNAVAILABLE');
    expect(error.received).toContain('libc.so.6 (loaded, but it exports no MPI_Init_thread');
  });

  it('refuses an unknown library name or bad options before starting a thread', async () => {
    expect((await failure(initMpi({ library: 'openmpi4' }))).code).toBe('INVALID_ARGUMENT');
    expect((await failure(initMpi(42 as never))).code).toBe('INVALID_ARGUMENT');
  });

  it('refuses a second initMpi() while the first is starting (two MPI_Init in one process would crash it)', async () => {
    const first = initMpi({ library: '/nonexistent/libmpi.so.40' });
    const second = await failure(initMpi({ library: '/nonexistent/libmpi.so.40' }));
    expect(second.code).toBe('INVALID_ARGUMENT');
    expect(second.message).toContain('already initialized');
    expect((await failure(first)).code).toBe('BACKEND_UNAVAILABLE');
    // A failed start leaves the process free to try again.
    expect((await failure(initMpi({ library: '/nonexistent/libmpi.so.40' }))).code).toBe('BACKEND_UNAVAILABLE');
  });

  it('says which script is missing when the thread cannot start', async () => {
    const error = await failure(initMpi({ library: 'openmpi', script: new URL('./no-such-thread.mjs', import.meta.url) }));
    expect(error.code).toBe('WORKER_FAILED');
    expect(error.fix).toContain('no-such-thread.mjs');
  });
});
