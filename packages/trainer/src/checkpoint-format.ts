/**
 * The natgrad checkpoint container: a single self-checking binary file.
 *   bytes 0-7   magic "NATGRAD\0"
 *   bytes 8-11  header length H (uint32, little-endian)
 *   next H      UTF-8 JSON header {format: 'natgrad-checkpoint', version, meta, tensors: [...],
 *               bodyLength, bodyCrc32}; each tensor entry has key, dtype, shape, offset,
 *               byteLength and crc32 of its bytes
 *   next        the tensors' raw little-endian bytes, back to back
 *   last 4      CRC-32 of every byte before it (magic, length, header and body)
 * Every length and checksum is verified on load, so a truncated or bit-flipped file fails with
 * CHECKPOINT_CORRUPT naming what is wrong instead of loading garbage. Version 2 added the trailing
 * checksum: version 1 checked the tensors but not the header, so an edited step counter (or any
 * other meta) loaded silently. The format is independent of the file system (bytes in, bytes out);
 * node/checkpoint-file.ts writes it atomically on Node.
 */
import * as tf from './tf';
import { type JsonValue, NatgradError } from '@natgrad/core';

export const CHECKPOINT_FORMAT = 'natgrad-checkpoint';
export const CHECKPOINT_VERSION = 2;
const MAGIC = [0x4e, 0x41, 0x54, 0x47, 0x52, 0x41, 0x44, 0x00]; // "NATGRAD\0"

interface TensorEntry {
  key: string;
  dtype: 'float32' | 'int32' | 'bool';
  shape: number[];
  offset: number;
  byteLength: number;
  crc32: number;
}

interface Header {
  format: string;
  version: number;
  meta: JsonValue;
  tensors: TensorEntry[];
  bodyLength: number;
  bodyCrc32: number;
}

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 (IEEE 802.3), the checksum of zip and png. */
export function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function corrupt(summary: string, expected: string, received: string): NatgradError {
  return new NatgradError('CHECKPOINT_CORRUPT', summary, {
    expected,
    received,
    fix: 'the file is damaged or not a natgrad checkpoint; restore it from a good copy or start from an earlier checkpoint',
  });
}

async function tensorBytes(t: tf.Tensor): Promise<Uint8Array> {
  const data = await t.data();
  if (t.dtype === 'bool') return Uint8Array.from(data as Uint8Array);
  const typed = data as Float32Array | Int32Array;
  // Copy: data() may return a view into a larger backend buffer.
  return new Uint8Array(typed.buffer.slice(typed.byteOffset, typed.byteOffset + typed.byteLength));
}

/** Serialises tensors plus a JSON `meta` into checkpoint bytes. Tensors stay owned by the caller. */
export async function encodeCheckpoint(meta: JsonValue, tensors: Record<string, tf.Tensor>): Promise<Uint8Array> {
  const entries: TensorEntry[] = [];
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const [key, t] of Object.entries(tensors)) {
    if (t.dtype !== 'float32' && t.dtype !== 'int32' && t.dtype !== 'bool') {
      throw new NatgradError('INVALID_ARGUMENT', 'Checkpoint cannot store this tensor dtype.', {
        expected: 'float32, int32 or bool tensors',
        received: `${t.dtype} tensor "${key}"`,
        fix: 'cast the state tensor to float32 before checkpointing',
      });
    }
    const bytes = await tensorBytes(t);
    entries.push({ key, dtype: t.dtype, shape: [...t.shape], offset, byteLength: bytes.length, crc32: crc32(bytes) });
    chunks.push(bytes);
    offset += bytes.length;
  }
  const body = new Uint8Array(offset);
  let at = 0;
  for (const c of chunks) {
    body.set(c, at);
    at += c.length;
  }
  const header: Header = {
    format: CHECKPOINT_FORMAT,
    version: CHECKPOINT_VERSION,
    meta,
    tensors: entries,
    bodyLength: body.length,
    bodyCrc32: crc32(body),
  };
  const headerBytes = new TextEncoder().encode(JSON.stringify(header));
  const end = 12 + headerBytes.length + body.length;
  const out = new Uint8Array(end + 4);
  out.set(MAGIC, 0);
  const view = new DataView(out.buffer);
  view.setUint32(8, headerBytes.length, true);
  out.set(headerBytes, 12);
  out.set(body, 12 + headerBytes.length);
  view.setUint32(end, crc32(out.subarray(0, end)), true);
  return out;
}

/** A verified container: the header and the body's bytes (a view into the caller's bytes). */
interface Parsed {
  header: Header;
  body: Uint8Array;
}

/**
 * Checks everything (magic, lengths, every tensor's checksum, the whole file's checksum) without
 * creating a tensor, so readers of the meta alone (readCheckpointMeta) are as strict as a restore.
 */
function parseCheckpoint(bytes: Uint8Array): Parsed {
  if (bytes.length < 16 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw corrupt('Not a natgrad checkpoint.', 'a file starting with the magic bytes "NATGRAD\\0"', `${bytes.length} bytes without that magic`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(8, true);
  if (12 + headerLength > bytes.length) {
    throw corrupt('Checkpoint header is truncated.', `at least ${12 + headerLength} bytes`, `${bytes.length} bytes`);
  }
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(12, 12 + headerLength))) as Header;
  } catch (cause) {
    throw corrupt('Checkpoint header is not valid JSON.', 'a UTF-8 JSON header', String(cause));
  }
  if (header === null || typeof header !== 'object' || header.format !== CHECKPOINT_FORMAT) {
    throw corrupt('Checkpoint header has the wrong format tag.', `format "${CHECKPOINT_FORMAT}"`, JSON.stringify(header?.format));
  }
  if (header.version !== CHECKPOINT_VERSION) {
    throw new NatgradError('CHECKPOINT_MISMATCH', 'Unsupported checkpoint version.', {
      expected: `version ${CHECKPOINT_VERSION}`,
      received: `version ${JSON.stringify(header.version)}`,
      fix: 'load it with the natgrad version that wrote it',
    });
  }
  const end = bytes.length - 4;
  const body = bytes.subarray(12 + headerLength, Math.max(12 + headerLength, end));
  if (body.length !== header.bodyLength) {
    throw corrupt('Checkpoint body has the wrong length (truncated or padded file).', `${header.bodyLength} bytes of tensor data`, `${body.length} bytes`);
  }
  if (!Array.isArray(header.tensors)) throw corrupt('Checkpoint header lists no tensors.', 'a tensors array', typeof header.tensors);
  for (const e of header.tensors) {
    const wellFormed =
      e !== null && typeof e === 'object' && typeof e.key === 'string' && ['float32', 'int32', 'bool'].includes(e.dtype) &&
      Array.isArray(e.shape) && e.shape.every((n) => Number.isInteger(n) && n >= 0) &&
      Number.isInteger(e.offset) && Number.isInteger(e.byteLength) && e.offset >= 0;
    if (!wellFormed) throw corrupt('Checkpoint header has a malformed tensor entry.', '{key, dtype, shape, offset, byteLength, crc32}', JSON.stringify(e));
    const slice = body.subarray(e.offset, e.offset + e.byteLength);
    const size = e.shape.reduce((a, b) => a * b, 1);
    const width = e.dtype === 'bool' ? 1 : 4;
    if (slice.length !== e.byteLength || e.byteLength !== size * width) {
      throw corrupt(`Checkpoint tensor "${e.key}" has an inconsistent length.`, `${size * width} bytes`, `${slice.length} bytes`);
    }
    if (crc32(slice) !== e.crc32) {
      throw corrupt(`Checkpoint tensor "${e.key}" fails its checksum.`, `crc32 ${e.crc32}`, `crc32 ${crc32(slice)}`);
    }
  }
  if (crc32(body) !== header.bodyCrc32) {
    throw corrupt('Checkpoint body fails its checksum.', `crc32 ${header.bodyCrc32}`, `crc32 ${crc32(body)}`);
  }
  const stored = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (stored !== actual) {
    throw corrupt('Checkpoint fails its checksum over the whole file (the header or the tensors were edited or damaged).', `crc32 ${stored}`, `crc32 ${actual}`);
  }
  return { header, body };
}

/**
 * A copy of body[offset, offset + length) in an ArrayBuffer of its own. Not body.slice(): on a Node
 * Buffer (a Uint8Array, so the types accept one; readFileSync returns one) slice() is a view into
 * the Buffer's pool, and its .buffer is the whole pool: a RangeError for unaligned offsets, or
 * silently other bytes.
 */
function ownBytes(body: Uint8Array, offset: number, length: number): ArrayBuffer {
  return body.buffer.slice(body.byteOffset + offset, body.byteOffset + offset + length) as ArrayBuffer;
}

function floatView(body: Uint8Array, e: TensorEntry): Float32Array {
  return new Float32Array(ownBytes(body, e.offset, e.byteLength));
}

/**
 * Parses and verifies checkpoint bytes. The returned tensors are owned by the caller; `nonFinite`
 * lists the float32 tensors holding NaN or Inf (counted on the host, see nonFiniteTensors).
 */
export function decodeCheckpoint(bytes: Uint8Array): { meta: JsonValue; tensors: Record<string, tf.Tensor>; nonFinite: NonFiniteTensor[] } {
  const parsed = parseCheckpoint(bytes);
  const { header, body } = parsed;
  const tensors: Record<string, tf.Tensor> = {};
  for (const e of header.tensors) {
    const copy = ownBytes(body, e.offset, e.byteLength);
    const values = e.dtype === 'float32' ? new Float32Array(copy) : e.dtype === 'int32' ? new Int32Array(copy) : new Uint8Array(copy);
    tensors[e.key] = tf.tensor(values, e.shape, e.dtype);
  }
  return { meta: header.meta, tensors, nonFinite: scanNonFinite(parsed) };
}

/** The verified JSON meta of checkpoint bytes, without creating any tensor. */
export function readCheckpointMeta(bytes: Uint8Array): JsonValue {
  return parseCheckpoint(bytes).header.meta;
}

/** A float32 tensor of a checkpoint holding NaN or ±Infinity entries. */
export interface NonFiniteTensor {
  key: string;
  count: number;
  size: number;
}

/**
 * The float32 tensors of verified checkpoint bytes that hold NaN or Inf, counted on the host from
 * the bytes themselves: the encoding already read every tensor, so this costs no device transfer.
 */
export function nonFiniteTensors(bytes: Uint8Array): NonFiniteTensor[] {
  return scanNonFinite(parseCheckpoint(bytes));
}

function scanNonFinite({ header, body }: Parsed): NonFiniteTensor[] {
  const out: NonFiniteTensor[] = [];
  for (const e of header.tensors) {
    if (e.dtype !== 'float32') continue;
    const values = floatView(body, e);
    let count = 0;
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) count++;
    if (count > 0) out.push({ key: e.key, count, size: values.length });
  }
  return out;
}
