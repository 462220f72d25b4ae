import { launchedByMpi } from '@natgrad/comm-mpi';
import { describe, expect, it } from 'vitest';
import { FlagError } from '../flags/flag-error';
import { parseTrainFlags } from '../flags/train-flags';
import { checkJobShape, coresPerRank, launcherLocalSize, launcherWorldRank, pinDevice, useMpi } from './launch';

describe('--distributed', () => {
  it('defaults to auto, accepts mpi and off, refuses anything else naming the values', () => {
    expect(parseTrainFlags([]).distributed).toBe('auto');
    expect(parseTrainFlags(['--distributed', 'mpi']).distributed).toBe('mpi');
    expect(parseTrainFlags(['--distributed', 'off']).distributed).toBe('off');
    expect(() => parseTrainFlags(['--distributed', 'nccl'])).toThrow(/--distributed: "nccl" is not allowed; allowed values: auto, mpi, off/);
  });

  it('is not part of the run config, and may be given with --resume', () => {
    const inv = parseTrainFlags(['--distributed', 'off', '--resume', 'runs/x']);
    expect(Object.keys(inv.config)).not.toContain('distributed');
    expect(inv.resume).toBe('runs/x');
  });

  it('auto joins MPI exactly when a launcher started the process; mpi always; off never', () => {
    const mpirun = { OMPI_COMM_WORLD_SIZE: '2', OMPI_COMM_WORLD_RANK: '1', OMPI_COMM_WORLD_LOCAL_RANK: '1' };
    expect(useMpi('auto', launchedByMpi(mpirun))).toBe(true);
    expect(useMpi('auto', launchedByMpi({ SLURM_STEP_NUM_TASKS: '4', SLURM_PROCID: '3' }))).toBe(true);
    expect(useMpi('auto', launchedByMpi({ HOME: '/root' }))).toBe(false);
    expect(useMpi('mpi', false)).toBe(true);
    expect(useMpi('off', true)).toBe(false);
  });
});

describe('launcher environment', () => {
  it('reads the world rank from Open MPI, PMIx, Hydra or Slurm, and nothing else', () => {
    expect(launcherWorldRank({ OMPI_COMM_WORLD_RANK: '3' })).toBe(3);
    expect(launcherWorldRank({ PMI_RANK: '0' })).toBe(0);
    expect(launcherWorldRank({ SLURM_PROCID: '7' })).toBe(7);
    expect(launcherWorldRank({ PMIX_RANK: 'x' })).toBeNull();
    expect(launcherWorldRank({})).toBeNull();
  });

  it('shares the cores among the ranks on this machine', () => {
    expect(launcherLocalSize({ OMPI_COMM_WORLD_LOCAL_SIZE: '2' })).toBe(2);
    expect(launcherLocalSize({ MPI_LOCALNRANKS: '4' })).toBe(4);
    expect(launcherLocalSize({})).toBeNull();
    expect(coresPerRank(2, 2, 2)).toBe(1);
    expect(coresPerRank(16, 4, 8)).toBe(4);
    expect(coresPerRank(2, null, 4)).toBe(1);
    expect(coresPerRank(64, null, 1)).toBe(64);
  });
});

describe('pinDevice', () => {
  it('gives local rank r CUDA device r when nothing narrowed the devices', () => {
    expect(pinDevice(1, {})).toEqual({ set: { CUDA_VISIBLE_DEVICES: '1' }, line: 'CUDA_VISIBLE_DEVICES=1 (local rank 1)' });
  });

  it("narrows a launcher's list to the local rank's entry, round robin past its end", () => {
    expect(pinDevice(1, { CUDA_VISIBLE_DEVICES: '4,5,6' }).set).toEqual({ CUDA_VISIBLE_DEVICES: '5' });
    expect(pinDevice(4, { CUDA_VISIBLE_DEVICES: '4,5,6' }).set).toEqual({ CUDA_VISIBLE_DEVICES: '5' });
  });

  it('leaves a single device chosen by the scheduler alone, and does nothing without a local rank', () => {
    expect(pinDevice(3, { CUDA_VISIBLE_DEVICES: '2' }).set).toEqual({});
    expect(pinDevice(null, {}).set).toEqual({});
  });
});

describe('checkJobShape', () => {
  it('refuses fop on an odd number of ranks, naming -np and the alternative', () => {
    expect(() => checkJobShape({ batch: 128, projection: 'fop' }, 3)).toThrow(/fop needs an even number of ranks.*mpirun -np 4.*--projection average/);
    expect(() => checkJobShape({ batch: 128, projection: 'average' }, 1)).not.toThrow();
  });

  it('refuses a batch that does not split into equal shards, naming the nearest batches', () => {
    let error: unknown;
    try {
      checkJobShape({ batch: 100, projection: 'fop' }, 8);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(FlagError);
    expect((error as FlagError).message).toMatch(/--batch: 100 does not divide into 8 equal shards \(one per rank\); pass --batch 96 or 104/);
    expect(() => checkJobShape({ batch: 96, projection: 'fop' }, 4)).not.toThrow();
  });
});
