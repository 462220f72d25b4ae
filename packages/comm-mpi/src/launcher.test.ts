import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { launchedByMpi, launcherFlavor, launcherLocalRank, mpirunArgs } from './launcher';

describe('launchedByMpi', () => {
  it('is true under Open MPI, MPICH/Hydra, PMIx and srun, false otherwise', () => {
    expect(launchedByMpi({ OMPI_COMM_WORLD_SIZE: '2' })).toBe(true);
    expect(launchedByMpi({ PMI_SIZE: '4', PMI_RANK: '1' })).toBe(true);
    expect(launchedByMpi({ PMIX_RANK: '0' })).toBe(true);
    expect(launchedByMpi({ MPI_LOCALRANKID: '0' })).toBe(true);
    expect(launchedByMpi({ SLURM_STEP_NUM_TASKS: '8', SLURM_PROCID: '3' })).toBe(true);
    expect(launchedByMpi({})).toBe(false);
    // A user's settings and an sbatch script's own environment are not a launched rank.
    expect(launchedByMpi({ OMPI_ALLOW_RUN_AS_ROOT: '1', OMPI_MCA_btl: 'self,vader' })).toBe(false);
    expect(launchedByMpi({ SLURM_NTASKS: '8', SLURM_JOB_ID: '12' })).toBe(false);
    expect(launchedByMpi({ OMPI_COMM_WORLD_SIZE: '' })).toBe(false);
  });
});

describe('launcherLocalRank', () => {
  it('reads the launcher-specific variable first, then Slurm', () => {
    expect(launcherLocalRank({ OMPI_COMM_WORLD_LOCAL_RANK: '3', SLURM_LOCALID: '1' })).toBe(3);
    expect(launcherLocalRank({ MPI_LOCALRANKID: '2' })).toBe(2);
    expect(launcherLocalRank({ SLURM_LOCALID: '5' })).toBe(5);
    expect(launcherLocalRank({ PALS_LOCAL_RANKID: '0' })).toBe(0);
    expect(launcherLocalRank({})).toBeNull();
  });

  it('refuses a value that is not a non-negative integer', () => {
    for (const value of ['-1', '1.5', 'abc', '2x']) {
      let error: unknown;
      try {
        launcherLocalRank({ OMPI_COMM_WORLD_LOCAL_RANK: value });
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(NatgradError);
      expect((error as NatgradError).code).toBe('INVALID_ARGUMENT');
      expect((error as NatgradError).message).toContain('OMPI_COMM_WORLD_LOCAL_RANK');
    }
  });
});

describe('launcherFlavor', () => {
  it('names the implementation from the variables its launcher sets', () => {
    expect(launcherFlavor({ OMPI_COMM_WORLD_SIZE: '2', PMIX_RANK: '0' })).toBe('openmpi');
    expect(launcherFlavor({ PMI_RANK: '0', PMI_SIZE: '2' })).toBe('mpich');
    expect(launcherFlavor({ MPI_LOCALRANKID: '0' })).toBe('mpich');
    expect(launcherFlavor({ HYDRA_CONTROL_FD: '5' })).toBe('mpich');
    expect(launcherFlavor({ OMPI_ALLOW_RUN_AS_ROOT: '1' })).toBeNull();
    expect(launcherFlavor({ PMIX_RANK: '0' })).toBeNull();
  });
});

describe('mpirunArgs', () => {
  it("gives Open MPI the issue's settings (shared memory without UCX, oversubscription, yielding)", () => {
    const args = mpirunArgs('openmpi', 4, { asRoot: false });
    expect(args.slice(0, 2)).toEqual(['-np', '4']);
    expect(args).toContain('--oversubscribe');
    expect(args.join(' ')).toContain('--mca pml ob1 --mca btl self,vader --mca osc ^ucx --mca mpi_yield_when_idle 1');
    expect(args).not.toContain('--allow-run-as-root');
    expect(mpirunArgs('openmpi', 2, { asRoot: true })).toContain('--allow-run-as-root');
  });

  it('adds TCP for jobs across machines, keeping shared memory between local ranks', () => {
    expect(mpirunArgs('openmpi', 8, { asRoot: false, transport: 'tcp' }).join(' ')).toContain('--mca btl self,vader,tcp');
    expect(() => mpirunArgs('openmpi', 2, { transport: 'infiniband' as 'tcp' })).toThrow(/unknown transport/);
  });

  it('gives MPICH only the number of ranks', () => {
    expect(mpirunArgs('mpich', 2)).toEqual(['-np', '2']);
  });

  it('refuses a bad rank count or flavor', () => {
    for (const np of [0, -1, 1.5, Number.NaN]) expect(() => mpirunArgs('openmpi', np)).toThrow(/integer >= 1/);
    expect(() => mpirunArgs('intelmpi' as 'mpich', 2)).toThrow(/unknown MPI flavor/);
  });
});
