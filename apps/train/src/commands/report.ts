/**
 * How `natgrad` prints a failure: a NatgradError (bad flag, missing dataset, unavailable backend...)
 * as its message only (no stack trace), and under --json also as one {"event":"error"} line on
 * stdout; anything else as an internal error. Returns the exit status (2 bad flags, 1 otherwise).
 * NATGRAD_DEBUG=1 adds stack traces. Shared by main() and the ranks of a distributed run, which
 * report their own errors (prefixed with the rank) before the job is torn down.
 */
import { NatgradError } from '@natgrad/core';
import { FlagError } from '../flags/flag-error';
import type { Output } from './output';

export function report(error: unknown, out: Output, json: boolean, prefix = 'natgrad: '): number {
  const debug = process.env.NATGRAD_DEBUG === '1';
  if (error instanceof NatgradError) {
    out.stderr(`${prefix}${error.message}\n${debug && error.stack ? `${error.stack}\n` : ''}`);
    if (json) out.stdout(`${JSON.stringify({ event: 'error', code: error.code, message: error.message, expected: error.expected, received: error.received, fix: error.fix })}\n`);
    return error instanceof FlagError ? 2 : 1;
  }
  const message = error instanceof Error ? error.message : String(error);
  out.stderr(`${prefix}${message}\n${debug && error instanceof Error ? `${error.stack}\n` : '(set NATGRAD_DEBUG=1 for a stack trace)\n'}`);
  if (json) out.stdout(`${JSON.stringify({ event: 'error', code: 'INTERNAL', message })}\n`);
  return 1;
}
