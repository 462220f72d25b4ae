import { describe, expect, it } from 'vitest';
import { libraryCandidates } from './library';

describe('libraryCandidates', () => {
  it("tries only the launcher's implementation under mpirun (a mismatch would initialize a lone singleton)", () => {
    const openmpi = libraryCandidates('auto', { OMPI_COMM_WORLD_SIZE: '2' });
    expect(openmpi.length).toBeGreaterThan(0);
    expect(openmpi.every((c) => c.flavor === 'openmpi')).toBe(true);
    expect(openmpi[0].file).toBe('libmpi.so.40');
    const mpich = libraryCandidates(undefined, { PMI_RANK: '0', PMI_SIZE: '2' });
    expect(mpich.every((c) => c.flavor === 'mpich')).toBe(true);
    expect(mpich[0].file).toBe('libmpich.so.12');
  });

  it('tries Open MPI, then MPICH, then the MPI-5 ABI outside a launcher', () => {
    const flavors = [...new Set(libraryCandidates('auto', {}).map((c) => c.flavor))];
    expect(flavors).toEqual(['openmpi', 'mpich', 'mpi-abi']);
  });

  it('names the Fedora/RHEL locations as well as the default search path', () => {
    const files = libraryCandidates('mpich', {}).map((c) => c.file);
    expect(files).toContain('/usr/lib64/mpich/lib/libmpich.so.12');
    expect(libraryCandidates('openmpi', {}).map((c) => c.file)).toContain('/usr/lib64/openmpi/lib/libmpi.so.40');
    expect(libraryCandidates('mpi-abi', {}).map((c) => c.file)).toContain('libmpi_abi.so');
  });

  it('takes a path as is, its flavor detected from its symbols later', () => {
    expect(libraryCandidates('/opt/mpi/lib/libmpi.so', {})).toEqual([{ flavor: null, file: '/opt/mpi/lib/libmpi.so' }]);
    expect(libraryCandidates('libmpi_abi.so.0', {})).toEqual([{ flavor: null, file: 'libmpi_abi.so.0' }]);
  });

  it('refuses anything else with the accepted names', () => {
    for (const bad of ['open-mpi', '', 42, null, {}]) {
      expect(() => libraryCandidates(bad, {})).toThrow(/'auto', 'openmpi', 'mpich', 'mpi-abi'/);
    }
  });
});
