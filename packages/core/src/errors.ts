/**
 * The single error class of natgrad. Every failure a user can cause says what was expected, what
 * was received and how to fix it, and carries a stable string `code` that programs can branch on
 * (the message text may improve between versions; the code does not change).
 */

export type NatgradErrorCode =
  | 'INVALID_ARGUMENT'
  | 'SHAPE_MISMATCH'
  | 'NON_FINITE_INPUT'
  | 'NOT_POSITIVE_DEFINITE'
  | 'NOT_INITIALIZED'
  | 'DISPOSED'
  | 'UNSUPPORTED_LAYER'
  | 'UNSUPPORTED_LOSS'
  | 'UNSUPPORTED_BACKEND'
  | 'BACKEND_UNAVAILABLE'
  | 'CHECKPOINT_CORRUPT'
  | 'CHECKPOINT_MISMATCH'
  | 'STATE_MISMATCH'
  | 'DATASET_INVALID'
  | 'DATASET_MISSING'
  | 'CONVERGENCE_FAILED'
  | 'WORKER_FAILED'
  | 'DEVICE_ERROR'
  | 'CONCURRENT_CALL'
  | 'COMMUNICATION_FAILED';

export interface NatgradErrorDetails {
  /** What the call needed, e.g. "a square matrix". */
  expected: string;
  /** What it got, e.g. "shape [3,4]". */
  received: string;
  /** One actionable sentence, e.g. "pass A^T A instead of A". */
  fix: string;
  /** The underlying error, when this one wraps another. */
  cause?: unknown;
}

export class NatgradError extends Error {
  readonly code: NatgradErrorCode;
  readonly expected: string;
  readonly received: string;
  readonly fix: string;

  constructor(code: NatgradErrorCode, summary: string, details: NatgradErrorDetails) {
    super(
      `${summary}\n  expected: ${details.expected}\n  received: ${details.received}\n  fix: ${details.fix}`,
      details.cause === undefined ? undefined : { cause: details.cause },
    );
    this.name = 'NatgradError';
    this.code = code;
    this.expected = details.expected;
    this.received = details.received;
    this.fix = details.fix;
  }
}

/** Short human description of any value for the `received` field of an error. */
export function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'number') return Number.isNaN(value) ? 'NaN' : String(value);
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `array of length ${value.length}`;
  if (typeof value === 'object') {
    const shape = (value as { shape?: unknown }).shape;
    if (Array.isArray(shape)) return `tensor of shape [${shape.join(',')}]`;
    const ctor = (value as object).constructor?.name;
    return ctor && ctor !== 'Object' ? `a ${ctor}` : 'an object';
  }
  return typeof value;
}
