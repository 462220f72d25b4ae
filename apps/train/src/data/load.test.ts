import { existsSync } from 'node:fs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { loadDataset } from './load';

const DEBIAN_FASHION = '/usr/share/datasets/fashion-mnist';
const hasFashion = existsSync(DEBIAN_FASHION);

describe('dataset search', () => {
  it('fails with the searched folders when a dataset is missing', async () => {
    try {
      await loadDataset('cifar10', undefined);
      throw new Error('cifar10 unexpectedly present');
    } catch (e) {
      if (!(e instanceof NatgradError)) throw e;
      expect(e.code).toBe('DATASET_MISSING');
      expect(e.message).toContain('cifar-10-binary.tar.gz');
    }
    await expect(loadDataset('fashion-mnist', '/nonexistent/natgrad')).rejects.toThrow(/does not exist/);
  });

  // Needs Debian's dataset-fashion-mnist package (CI installs it); skipped with this reason otherwise.
  it.skipIf(!hasFashion)(`reads the real Fashion-MNIST from ${DEBIAN_FASHION} (skipped when dataset-fashion-mnist is not installed)`, async () => {
    const ds = await loadDataset('fashion-mnist');
    expect(ds.source).toBe(DEBIAN_FASHION);
    expect([ds.train.count, ds.test.count, ds.height, ds.width]).toEqual([60000, 10000, 28, 28]);
  });
});
