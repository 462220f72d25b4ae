import * as tf from '@tensorflow/tfjs';
import { NatgradError } from '@natgrad/core';
import { describe, expect, it } from 'vitest';
import { crc32, decodeCheckpoint, encodeCheckpoint } from './checkpoint-format';

describe('checkpoint container', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });

  it('round-trips float32, int32 and bool tensors bit-exactly with the meta', async () => {
    const tensors = {
      a: tf.tensor2d([
        [1.5, -0],
        [Math.PI, 1e-30],
      ]),
      b: tf.tensor1d([7, -3], 'int32'),
      c: tf.tensor1d([1, 0, 1], 'bool'),
      empty: tf.zeros([0, 3]),
    };
    const bytes = await encodeCheckpoint({ step: 3, names: ['x'] }, tensors);
    const before = tf.memory().numTensors;
    const { meta, tensors: out } = decodeCheckpoint(bytes);
    expect(meta).toEqual({ step: 3, names: ['x'] });
    for (const [k, t] of Object.entries(tensors)) {
      expect(out[k].dtype).toBe(t.dtype);
      expect(out[k].shape).toEqual(t.shape);
      expect(Array.from(await out[k].data())).toEqual(Array.from(await t.data()));
    }
    tf.dispose(Object.values(out));
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(Object.values(tensors));
  });

  it('rejects truncated, bit-flipped and foreign bytes with CHECKPOINT_CORRUPT and leaks nothing', async () => {
    const t = { w: tf.ones([16]) };
    const bytes = await encodeCheckpoint({}, t);
    const before = tf.memory().numTensors;
    const expectCode = (b: Uint8Array, code: string, pattern: RegExp) => {
      try {
        decodeCheckpoint(b);
        expect.unreachable('decode should fail');
      } catch (err) {
        expect(err).toBeInstanceOf(NatgradError);
        expect((err as NatgradError).code).toBe(code);
        expect((err as Error).message).toMatch(pattern);
      }
    };
    expectCode(bytes.slice(0, bytes.length - 4), 'CHECKPOINT_CORRUPT', /wrong length/);
    const flipped = bytes.slice();
    flipped[flipped.length - 6] ^= 0x10;
    expectCode(flipped, 'CHECKPOINT_CORRUPT', /"w" fails its checksum/);
    expectCode(new TextEncoder().encode('{"format": "x"}'), 'CHECKPOINT_CORRUPT', /Not a natgrad checkpoint/);
    const badHeader = bytes.slice();
    badHeader[14] = 0xff;
    expectCode(badHeader, 'CHECKPOINT_CORRUPT', /not valid JSON/);
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose(t.w);
  });
});
