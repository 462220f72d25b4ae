/**
 * How one `natgrad train` process finds its place in a distributed job before anything heavy is
 * loaded: whether it joins an MPI world at all (--distributed auto|mpi|off; auto follows the
 * launcher's environment, so `mpirun -np 4 natgrad train` needs no extra flag), which rank the
 * launcher made it (only to keep ranks other than 0 quiet before MPI is initialised), how many of
 * the job's ranks share this machine (they share its cores and GPUs), and which GPU it takes. The
 * GPU must be chosen from the launcher's local rank BEFORE a backend is loaded: tfjs-node-gpu reads
 * CUDA_VISIBLE_DEVICES once, when TensorFlow starts, and would otherwise put every rank on GPU 0.
 * Everything here reads an environment passed in, so it is tested without a launcher.
 */
import { FlagError } from '../flags/flag-error';
import type { DistributedMode, TrainConfig } from '../flags/train-flags';

type Env = Record<string, string | undefined>;

/** The world rank the launcher gave this process (Open MPI, MPICH/Hydra, PMIx, Slurm), or null. */
export function launcherWorldRank(env: Env): number | null {
  for (const key of ['OMPI_COMM_WORLD_RANK', 'PMIX_RANK', 'PMI_RANK', 'SLURM_PROCID']) {
    const v = Number(env[key]);
    if (env[key] !== undefined && env[key] !== '' && Number.isInteger(v) && v >= 0) return v;
  }
  return null;
}

/** How many ranks of the job the launcher started on this machine, or null when it does not say. */
export function launcherLocalSize(env: Env): number | null {
  for (const key of ['OMPI_COMM_WORLD_LOCAL_SIZE', 'MPI_LOCALNRANKS', 'SLURM_NTASKS_PER_NODE']) {
    const v = Number(env[key]);
    if (env[key] !== undefined && env[key] !== '' && Number.isInteger(v) && v >= 1) return v;
  }
  return null;
}

/**
 * Whether this process joins an MPI world: 'mpi' always (a launcher natgrad does not recognise, or
 * a world of one), 'off' never (each process is an independent run), 'auto' when `launched` (the
 * launcher's variables are set: @natgrad/comm-mpi's launchedByMpi()).
 */
export function useMpi(mode: DistributedMode, launched: boolean): boolean {
  return mode === 'mpi' || (mode === 'auto' && launched);
}

/** What pinDevice decided, for the start-up line of each rank. */
export interface DevicePin {
  /** The environment variables set (to be set) for the backend that is loaded next. */
  set: Record<string, string>;
  /** One clause for the log: which device and why. */
  line: string;
}

/**
 * The GPU of the rank with launcher-local rank `localRank`. CUDA (tfjs-node-gpu): a launcher or a
 * scheduler that already narrowed CUDA_VISIBLE_DEVICES to one device (srun --gpus-per-task=1,
 * Kubernetes' device plugin) is left alone; a list of several is narrowed to the local rank's entry
 * (round robin when there are more ranks than devices); unset, the rank takes device `localRank`.
 * The variable is harmless for the other backends, so it is set whatever --backend says: --backend
 * auto may still pick tfjs-node-gpu. WebGPU (Dawn) has no device index to pin (its adapter option
 * matches a name, the same for identical GPUs): every rank opens the default adapter
 * (docs/distributed.md says how to give each rank its own GPU through the container or scheduler).
 */
export function pinDevice(localRank: number | null, env: Env): DevicePin {
  if (localRank === null) return { set: {}, line: 'no launcher-local rank: the default device' };
  const visible = env.CUDA_VISIBLE_DEVICES;
  if (visible !== undefined && visible.trim() !== '') {
    const list = visible.split(',').map((s) => s.trim()).filter((s) => s !== '');
    if (list.length <= 1) return { set: {}, line: `CUDA_VISIBLE_DEVICES=${visible} (set by the launcher)` };
    const mine = list[localRank % list.length];
    return { set: { CUDA_VISIBLE_DEVICES: mine }, line: `CUDA_VISIBLE_DEVICES=${mine} (local rank ${localRank} of the launcher's ${list.join(',')})` };
  }
  return { set: { CUDA_VISIBLE_DEVICES: String(localRank) }, line: `CUDA_VISIBLE_DEVICES=${localRank} (local rank ${localRank})` };
}

/**
 * Cores each rank may use for itself: the machine's cores shared by the ranks on it. The statistics
 * worker thread (a second core per process) is placed from this, so 2 ranks on 2 cores do not start
 * 4 busy threads.
 */
export function coresPerRank(cores: number, localSize: number | null, worldSize: number): number {
  return Math.max(1, Math.floor(cores / Math.max(1, localSize ?? worldSize)));
}

/**
 * The ranks split every batch into equal contiguous shards, and FOP pairs the even ranks' mean
 * gradient (g1) with the odd ranks' (g2), so the batch must divide by the rank count and FOP needs
 * an even count. Refused here, naming --batch and the launcher's -np, before anything is loaded.
 */
export function checkJobShape(config: Pick<TrainConfig, 'batch' | 'projection'>, ranks: number): void {
  if (config.projection === 'fop' && ranks % 2 !== 0) {
    throw new FlagError('train', [
      {
        flag: 'projection',
        message: `fop needs an even number of ranks (the even ranks' gradient is g1, the odd ranks' g2); this job has ${ranks}: start it with mpirun -np ${ranks + 1} (or ${Math.max(2, ranks - 1)}), or pass --projection average`,
        expected: 'an even number of ranks with --projection fop',
        received: `${ranks} ranks`,
        fix: `mpirun -np ${ranks + 1}, or --projection average (data-parallel KFAC)`,
      },
    ]);
  }
  if (config.batch % ranks !== 0) {
    const lower = config.batch - (config.batch % ranks);
    throw new FlagError('train', [
      {
        flag: 'batch',
        message: `${config.batch} does not divide into ${ranks} equal shards (one per rank); pass --batch ${lower > 0 ? lower : ranks} or ${lower + ranks}`,
        expected: `a batch that is a multiple of the ${ranks} ranks`,
        received: `--batch ${config.batch}`,
        fix: `pass --batch ${lower + ranks}`,
      },
    ]);
  }
}
