/**
 * What the MPI launcher (mpirun, mpiexec, srun) tells a process through its environment, and the
 * launcher settings natgrad's jobs need. A rank must know it runs under a launcher, and which local
 * rank it is, BEFORE it loads a tfjs backend (each rank picks its own GPU) and before MPI is
 * initialized, so these read the environment only and never touch the MPI library.
 *
 * The variables: Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE/RANK/LOCAL_RANK (and PMIX_RANK);
 * MPICH's Hydra (and Intel MPI) sets PMI_RANK, PMI_SIZE, MPI_LOCALRANKID; Slurm's srun sets
 * SLURM_STEP_NUM_TASKS, SLURM_PROCID and SLURM_LOCALID for the tasks of a step (an sbatch script
 * itself also sees SLURM_NTASKS, but is not a rank, so that variable alone does not count).
 */
import { NatgradError, describeValue } from '@natgrad/core';

/** A process environment (process.env, or a copy), as the launcher helpers read it. */
export type LauncherEnvironment = Readonly<Record<string, string | undefined>>;

/** Variables whose presence means this process is one rank of a launched MPI job. */
const LAUNCH_VARIABLES = ['OMPI_COMM_WORLD_SIZE', 'PMI_SIZE', 'PMI_RANK', 'PMIX_RANK', 'MPI_LOCALRANKID', 'SLURM_STEP_NUM_TASKS'] as const;

/** Local-rank variables, most specific first: the MPI launcher's own, then Slurm's. */
const LOCAL_RANK_VARIABLES = ['OMPI_COMM_WORLD_LOCAL_RANK', 'MPI_LOCALRANKID', 'PALS_LOCAL_RANKID', 'SLURM_LOCALID'] as const;

/** True when this process was started by mpirun/mpiexec (Open MPI, MPICH, Intel MPI) or srun. */
export function launchedByMpi(env: LauncherEnvironment = process.env): boolean {
  return LAUNCH_VARIABLES.some((name) => env[name] !== undefined && env[name] !== '');
}

/**
 * This rank's index among the ranks on its machine (from OMPI_COMM_WORLD_LOCAL_RANK,
 * MPI_LOCALRANKID, PALS_LOCAL_RANKID or SLURM_LOCALID), or null outside a launcher. Rank r on a
 * machine with G GPUs uses GPU r % G.
 */
export function launcherLocalRank(env: LauncherEnvironment = process.env): number | null {
  for (const name of LOCAL_RANK_VARIABLES) {
    const value = env[name];
    if (value === undefined || value === '') continue;
    const rank = Number(value);
    if (!Number.isInteger(rank) || rank < 0 || !/^\d+$/.test(value.trim())) {
      throw new NatgradError('INVALID_ARGUMENT', `launcherLocalRank: ${name} is not a local rank.`, {
        expected: 'a non-negative integer set by the MPI launcher',
        received: describeValue(value),
        fix: `unset ${name} or let mpirun/srun set it`,
      });
    }
    return rank;
  }
  return null;
}

/** The MPI implementation whose launcher started this process, when the environment says so. */
export function launcherFlavor(env: LauncherEnvironment = process.env): 'openmpi' | 'mpich' | null {
  // OMPI_ALLOW_RUN_AS_ROOT and the like are user settings, not launcher output: only the variables
  // mpirun sets for its ranks count.
  if (env.OMPI_COMM_WORLD_SIZE !== undefined) return 'openmpi';
  if (env.PMI_RANK !== undefined || env.PMI_SIZE !== undefined || env.MPI_LOCALRANKID !== undefined) return 'mpich';
  if (Object.keys(env).some((name) => name.startsWith('HYDRA_') || name.startsWith('HYDI_'))) return 'mpich';
  return null;
}

export interface MpirunArgsOptions {
  /** Add Open MPI's --allow-run-as-root (default: when this process runs as root). */
  asRoot?: boolean;
  /**
   * Open MPI transports: 'shared-memory' (default: self,vader, one machine) or 'tcp' (self,vader,tcp:
   * ranks on several machines talk over TCP, ranks on the same machine still over shared memory).
   */
  transport?: 'shared-memory' | 'tcp';
}

/**
 * The launcher arguments natgrad's jobs run with, before the program: `mpirun ${args} node ...`.
 * Open MPI: --oversubscribe (more ranks than cores, as on CI's 2-core machines),
 * mpi_yield_when_idle (a waiting rank yields its core to the others), and the ob1/vader
 * shared-memory transports with UCX off (UCX inside a Node process crashes at exit, issue #15).
 * MPICH's Hydra oversubscribes by default and needs nothing.
 */
export function mpirunArgs(flavor: 'openmpi' | 'mpich', np: number, options: MpirunArgsOptions = {}): string[] {
  if (!Number.isInteger(np) || np < 1) {
    throw new NatgradError('INVALID_ARGUMENT', 'mpirunArgs: bad number of ranks.', {
      expected: 'an integer >= 1',
      received: describeValue(np),
      fix: 'pass the number of processes, e.g. 2',
    });
  }
  if (flavor === 'mpich') return ['-np', String(np)];
  if (flavor !== 'openmpi') {
    throw new NatgradError('INVALID_ARGUMENT', 'mpirunArgs: unknown MPI flavor.', {
      expected: "'openmpi' or 'mpich'",
      received: describeValue(flavor),
      fix: "pass 'openmpi' for mpirun.openmpi or 'mpich' for mpirun.mpich",
    });
  }
  const transport = options.transport ?? 'shared-memory';
  if (transport !== 'shared-memory' && transport !== 'tcp') {
    throw new NatgradError('INVALID_ARGUMENT', 'mpirunArgs: unknown transport.', {
      expected: "'shared-memory' or 'tcp'",
      received: describeValue(transport),
      fix: "pass 'tcp' when the ranks run on several machines",
    });
  }
  const asRoot = options.asRoot ?? process.getuid?.() === 0;
  return [
    '-np',
    String(np),
    ...(asRoot ? ['--allow-run-as-root'] : []),
    '--oversubscribe',
    '--mca',
    'pml',
    'ob1',
    '--mca',
    'btl',
    transport === 'tcp' ? 'self,vader,tcp' : 'self,vader',
    '--mca',
    'osc',
    '^ucx',
    '--mca',
    'mpi_yield_when_idle',
    '1',
  ];
}
