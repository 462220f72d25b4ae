/**
 * Average-pools every image by an integer factor (28×28 → 14×14 for factor 2). The first Dense
 * layer's KFAC input factor is (pixels + 1)²: 785² at full size, 197² at half. Inverting it is the
 * costliest part of a KFAC or FOP step on a GPU backend (Newton–Schulz matMuls), and on a software
 * GPU (SwiftShader, as in headless CI) 785³ per matMul takes minutes; halving the side makes it
 * 64× cheaper. A page option and the browser tier's setting, not a default.
 */
import { NatgradError } from '@natgrad/core';
import type { ImageDataset, ImageSplit } from './image-dataset';

export function downsampleDataset(d: ImageDataset, factor: number): ImageDataset {
  if (factor === 1) return d;
  if (!Number.isInteger(factor) || factor < 1 || d.height % factor !== 0 || d.width % factor !== 0) {
    throw new NatgradError('INVALID_ARGUMENT', 'The downsampling factor must divide the image size.', {
      expected: `an integer ≥ 1 dividing ${d.height} and ${d.width}`,
      received: String(factor),
      fix: 'use 1 (full size), 2 or 4 for 28×28 images',
    });
  }
  const h = d.height / factor;
  const w = d.width / factor;
  const c = d.channels;
  const pool = (s: ImageSplit): ImageSplit => {
    const out = new Uint8Array(s.count * h * w * c);
    const inPixels = d.height * d.width * c;
    for (let n = 0; n < s.count; n++) {
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let ch = 0; ch < c; ch++) {
            let sum = 0;
            for (let dy = 0; dy < factor; dy++) {
              for (let dx = 0; dx < factor; dx++) sum += s.images[n * inPixels + ((y * factor + dy) * d.width + x * factor + dx) * c + ch];
            }
            out[((n * h + y) * w + x) * c + ch] = Math.round(sum / (factor * factor));
          }
        }
      }
    }
    return { images: out, labels: s.labels, count: s.count };
  };
  return { ...d, height: h, width: w, train: pool(d.train), test: pool(d.test), source: `${d.source}, average-pooled ${factor}×${factor} to ${h}×${w}` };
}
