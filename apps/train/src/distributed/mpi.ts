/**
 * The MPI binding, loaded only when it is needed: @natgrad/comm-mpi loads koffi, a native module,
 * and a one-process `natgrad train --distributed off` (or auto outside a launcher) must not depend
 * on it loading. --distributed auto asks the binding's launchedByMpi() whether mpirun, mpiexec or
 * srun started this process; mpi joins a world whatever the environment says (a launcher natgrad
 * does not recognise, or a world of one).
 */
import { NatgradError } from '@natgrad/core';
import type { DistributedMode } from '../flags/train-flags';
import { launcherWorldRank, useMpi } from './launch';

export type MpiBinding = typeof import('@natgrad/comm-mpi');

export async function loadMpi(): Promise<MpiBinding> {
  try {
    return await import('@natgrad/comm-mpi');
  } catch (cause) {
    throw new NatgradError('BACKEND_UNAVAILABLE', 'The MPI binding @natgrad/comm-mpi could not be loaded.', {
      expected: '@natgrad/comm-mpi and its koffi native module, installed with @natgrad/cli',
      received: String((cause as Error).message ?? cause).split('\n')[0],
      fix: 'run the installed CLI (npm i @natgrad/cli; the single-file bundle natgrad.cjs trains in one process only) or a checkout, or pass --distributed off to train in one process',
      cause,
    });
  }
}

/** Whether this process joins an MPI world (--distributed, and for auto the launcher's environment). */
export async function wantsMpi(mode: DistributedMode, env: NodeJS.ProcessEnv): Promise<boolean> {
  if (mode === 'off') return false;
  if (mode === 'mpi') return true;
  // auto: a binding that cannot load matters only when a launcher's variables are set.
  let mpi: MpiBinding;
  try {
    mpi = await loadMpi();
  } catch (error) {
    if (launcherWorldRank(env) === null) return false;
    throw error;
  }
  return useMpi(mode, mpi.launchedByMpi(env));
}
