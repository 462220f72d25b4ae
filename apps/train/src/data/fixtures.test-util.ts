/**
 * Writers for tiny IDX and CIFAR-10 fixture files, shared by the reader and CLI tests. The pixel
 * values encode the label (label * 20 + position), so a test can check that images and labels
 * stay paired through shuffling and layout conversion.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';

export function idxBytes(dims: number[], values: ArrayLike<number>): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  header[2] = 0x08;
  header[3] = dims.length;
  const view = new DataView(header.buffer);
  dims.forEach((d, i) => {
    view.setUint32(4 + 4 * i, d, false);
  });
  const out = new Uint8Array(header.length + values.length);
  out.set(header);
  out.set(Array.from(values), header.length);
  return out;
}

/** Writes the four IDX files of an n-train / m-test, side x side dataset into dir. */
export function writeIdxDataset(dir: string, opts: { train: number; test: number; side?: number; gzip?: boolean }): void {
  mkdirSync(dir, { recursive: true });
  const side = opts.side ?? 28;
  const write = (prefix: string, n: number) => {
    const labels = Array.from({ length: n }, (_, i) => i % 10);
    const pixels = new Uint8Array(n * side * side);
    for (let i = 0; i < n; i++) {
      for (let p = 0; p < side * side; p++) pixels[i * side * side + p] = (labels[i] * 20 + (p % 7)) & 0xff;
    }
    const files: [string, Uint8Array][] = [
      [`${prefix}-images-idx3-ubyte`, idxBytes([n, side, side], pixels)],
      [`${prefix}-labels-idx1-ubyte`, idxBytes([n], labels)],
    ];
    for (const [name, bytes] of files) {
      if (opts.gzip) writeFileSync(join(dir, `${name}.gz`), gzipSync(bytes));
      else writeFileSync(join(dir, name), bytes);
    }
  };
  write('train', opts.train);
  write('t10k', opts.test);
}

/** One CIFAR-10 binary batch of n records (label i % 10, red plane = label * 20). */
export function cifarBytes(n: number, labelOffset = 0): Uint8Array {
  const rec = 3073;
  const out = new Uint8Array(n * rec);
  for (let i = 0; i < n; i++) {
    const label = (i + labelOffset) % 10;
    out[i * rec] = label;
    out.fill(label * 20, i * rec + 1, i * rec + 1 + 1024);
    out.fill(1, i * rec + 1 + 1024, i * rec + 1 + 2048);
    out.fill(2, i * rec + 1 + 2048, (i + 1) * rec);
  }
  return out;
}

export function writeCifarDataset(dir: string, perBatch: number, test: number): void {
  mkdirSync(dir, { recursive: true });
  for (let b = 1; b <= 5; b++) writeFileSync(join(dir, `data_batch_${b}.bin`), cifarBytes(perBatch, b));
  writeFileSync(join(dir, 'test_batch.bin'), cifarBytes(test));
}
