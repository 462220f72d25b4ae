/**
 * @natgrad/comm-mpi: the Communicator contract of @natgrad/core on MPI (Open MPI, MPICH, the MPI-5
 * standard ABI) from Node, through the koffi FFI (nothing to compile). Node-only.
 */
export { initMpi, mpiThreadScript } from './init-mpi';
export type { InitMpiOptions } from './init-mpi';
export { launchedByMpi, launcherLocalRank, mpirunArgs } from './launcher';
export type { LauncherEnvironment, MpirunArgsOptions } from './launcher';
// The @natgrad/core types this API returns, so a consumer can name them from here.
export type { Communicator, ReduceOp } from '@natgrad/core';
