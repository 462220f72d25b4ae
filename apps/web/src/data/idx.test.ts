import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { type NamedIdx, assembleIdxDataset, decodeIdxFile, parseIdx } from './idx';

function idx(dims: number[], fill: (i: number) => number): Uint8Array {
  const size = dims.reduce((a, b) => a * b, 1);
  const out = new Uint8Array(4 + 4 * dims.length + size);
  out[2] = 0x08;
  out[3] = dims.length;
  const view = new DataView(out.buffer);
  for (const [i, d] of dims.entries()) view.setUint32(4 + 4 * i, d, false);
  for (let i = 0; i < size; i++) out[4 + 4 * dims.length + i] = fill(i);
  return out;
}

const named = (name: string, dims: number[], fill = (i: number) => i % 10): NamedIdx => ({ name, idx: parseIdx(idx(dims, fill), name) });

describe('IDX files picked in the page', () => {
  it('decodes gzip and raw files to the same array', async () => {
    const raw = idx([3, 2, 2], (i) => i * 7);
    const fromGz = await decodeIdxFile(new Uint8Array(gzipSync(raw)), 'a.gz');
    const fromRaw = await decodeIdxFile(raw, 'a');
    expect(fromGz.dims).toEqual([3, 2, 2]);
    expect(Array.from(fromGz.data)).toEqual(Array.from(fromRaw.data));
    expect(fromRaw.data[11]).toBe(77);
  });

  it('names the file and the problem: truncated, wrong type, not IDX, broken gzip', async () => {
    const raw = idx([3, 2, 2], () => 1);
    expect(() => parseIdx(raw.subarray(0, raw.length - 2), 'cut')).toThrow(/cut[\s\S]*/);
    try {
      parseIdx(raw.subarray(0, raw.length - 2), 'cut');
    } catch (e) {
      expect(e).toMatchObject({ code: 'DATASET_INVALID' });
      expect(String((e as { received?: string }).received ?? (e as Error).message)).toMatch(/truncated/);
    }
    const float = raw.slice();
    float[2] = 0x0d;
    expect(() => parseIdx(float, 'f')).toThrow(/Corrupt, truncated or non-IDX file f/);
    expect(() => parseIdx(new TextEncoder().encode('PK\u0003\u0004zip'), 'x.zip')).toThrow(expect.objectContaining({ code: 'DATASET_INVALID' }));
    const gz = new Uint8Array(gzipSync(raw));
    await expect(decodeIdxFile(gz.subarray(0, gz.length - 6), 'broken.gz')).rejects.toMatchObject({ code: 'DATASET_INVALID' });
  });

  it('sorts four files by shape and name into train and test, whatever order they were picked in', () => {
    const d = assembleIdxDataset([
      named('t10k-labels-idx1-ubyte', [2]),
      named('train-images-idx3-ubyte', [4, 28, 28], () => 200),
      named('t10k-images-idx3-ubyte', [2, 28, 28], () => 50),
      named('train-labels-idx1-ubyte', [4]),
    ]);
    expect(d.train.count).toBe(4);
    expect(d.test.count).toBe(2);
    expect(d.train.images[0]).toBe(200);
    expect(d.test.images[0]).toBe(50);
    expect(d.height).toBe(28);
  });

  it('refuses missing, mismatched and out-of-range files with the fix', () => {
    expect(() => assembleIdxDataset([named('train-images', [4, 28, 28]), named('train-labels', [4])])).toThrow(
      expect.objectContaining({ code: 'DATASET_MISSING' }),
    );
    expect(() =>
      assembleIdxDataset([named('train-images', [4, 28, 28]), named('t10k-images', [2, 28, 28]), named('train-labels', [3]), named('t10k-labels', [2])]),
    ).toThrow(/different numbers of examples/);
    expect(() =>
      assembleIdxDataset([named('train-images', [4, 28, 28]), named('t10k-images', [2, 28, 28]), named('train-labels', [4], () => 12), named('t10k-labels', [2])]),
    ).toThrow(/outside 0\.\.9/);
    expect(() =>
      assembleIdxDataset([named('train-images', [4, 28, 28]), named('t10k-images', [2, 32, 32]), named('train-labels', [4]), named('t10k-labels', [2])]),
    ).toThrow(/different sizes/);
  });
});
