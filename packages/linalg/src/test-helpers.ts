/**
 * Helpers shared by the linalg tests (not exported from the package): the leak check every public
 * call must pass, and a scoped backend switch for the tests that compare one backend with another,
 * which must hand the file back on the backend NATGRAD_TEST_BACKEND chose (not on 'cpu').
 */
import * as tf from '@tensorflow/tfjs';
import { expect } from 'vitest';

/** Awaits fn and asserts it leaves exactly `returned` new tensors behind (none when it rejects). */
export async function noLeak<T>(fn: () => Promise<T>, returned = 1): Promise<T> {
  const before = tf.memory().numTensors;
  let out: T;
  try {
    out = await fn();
  } catch (error) {
    expect(tf.memory().numTensors).toBe(before);
    throw error;
  }
  expect(tf.memory().numTensors).toBe(before + returned);
  return out;
}

/** Runs fn on `backend`, then switches back to the backend that was active before. */
export async function withBackend<T>(backend: string, fn: () => Promise<T>): Promise<T> {
  const previous = tf.getBackend();
  // setBackend answers false (it does not throw) when a backend fails to start: without this
  // check the comparison would silently run on the previous backend twice.
  if (!(await tf.setBackend(backend))) throw new Error(`the '${backend}' backend failed to start`);
  try {
    return await fn();
  } finally {
    await tf.setBackend(previous);
  }
}

/** The rejection of `promise`, for asserting on its code and message. */
export async function rejection(promise: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code?: string; message: string };
  }
  throw new Error('expected a rejection, but the promise resolved');
}
