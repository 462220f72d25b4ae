/**
 * Which shared libraries initMpi() tries, in order. The choice must match the launcher: a rank of
 * an Open MPI job that loaded MPICH would initialize as a singleton (size 1) and silently train
 * alone, so under a launcher whose variables name its implementation (launcherFlavor) only that
 * implementation is tried. Otherwise Open MPI, then MPICH, then the MPI-5 standard ABI library.
 *
 * File names: Debian/Ubuntu put libmpi.so.40 (Open MPI) and libmpich.so.12 (MPICH) on the default
 * search path; Fedora/RHEL put them under /usr/lib64/openmpi/lib and /usr/lib64/mpich/lib (where
 * MPICH's library is called libmpi.so.12), found only after `module load mpi/...` sets
 * LD_LIBRARY_PATH, so those absolute paths are tried as well.
 */
import { NatgradError, describeValue } from '@natgrad/core';
import { launcherFlavor } from './launcher';

export type MpiFlavor = 'openmpi' | 'mpich' | 'mpi-abi';

/** A library to try; `flavor` null means "detect from the library's symbols" (a user's path). */
export interface LibraryCandidate {
  flavor: MpiFlavor | null;
  file: string;
}

const FILES: Record<MpiFlavor, readonly string[]> = {
  openmpi: ['libmpi.so.40', '/usr/lib64/openmpi/lib/libmpi.so.40', '/usr/lib/openmpi/lib/libmpi.so.40', 'libmpi.40.dylib'],
  mpich: ['libmpich.so.12', '/usr/lib64/mpich/lib/libmpich.so.12', '/usr/lib64/mpich/lib/libmpi.so.12', 'libmpi.so.12', 'libmpich.12.dylib'],
  'mpi-abi': ['libmpi_abi.so.0', 'libmpi_abi.so'],
};

const NAMES = ['auto', 'openmpi', 'mpich', 'mpi-abi'] as const;

/** The libraries to try for initMpi({ library }), in order. */
export function libraryCandidates(library: unknown, env: Readonly<Record<string, string | undefined>> = process.env): LibraryCandidate[] {
  if (library === undefined || library === 'auto') {
    const launcher = launcherFlavor(env);
    const order: MpiFlavor[] = launcher === null ? ['openmpi', 'mpich', 'mpi-abi'] : [launcher];
    return order.flatMap((flavor) => FILES[flavor].map((file) => ({ flavor, file })));
  }
  if (library === 'openmpi' || library === 'mpich' || library === 'mpi-abi') {
    return FILES[library].map((file) => ({ flavor: library, file }));
  }
  if (typeof library === 'string' && library.trim() !== '' && /[/\\]|\.so|\.dylib|\.dll/.test(library)) {
    return [{ flavor: null, file: library }];
  }
  throw new NatgradError('INVALID_ARGUMENT', 'initMpi: unknown MPI library.', {
    expected: `one of ${NAMES.map((n) => `'${n}'`).join(', ')} or the path of an MPI shared library (e.g. '/opt/mpi/lib/libmpi.so.40')`,
    received: describeValue(library),
    fix: "omit `library` (auto-detect) or pass 'openmpi', 'mpich', 'mpi-abi' or a file path",
  });
}
