/**
 * The non-finite guard of a step (docs/architecture.md, "One training step": a bad step is skipped).
 * A step whose loss, statistics inputs or directions are not finite leaves every weight
 * bit-identical, including the non-trainable ones that the training forward itself writes
 * (BatchNorm moving statistics), and the damping schedule is told so that it can back off.
 * The guard's flag travels in the step's one device read together with the logged scalars.
 */
import * as tf from './tf';
import { NatgradError } from '@natgrad/core';

/** Copies of the non-trainable weights, taken before the forward pass, to restore on a skip. */
export class NonTrainableSnapshot {
  private readonly copies: tf.Tensor[];

  constructor(private readonly model: tf.LayersModel) {
    this.copies = model.nonTrainableWeights.map((w) => tf.clone(w.read()));
  }

  restore(): void {
    this.model.nonTrainableWeights.forEach((w, i) => {
      w.write(this.copies[i]);
    });
  }

  dispose(): void {
    tf.dispose(this.copies);
  }
}

/** The host values of one step, read in a single device transfer. */
export interface StepScalars {
  loss: number;
  finite: boolean;
  gradNorm: number;
  correct: number;
}

/**
 * The one read of every step: loss, finiteness flag, gradient norm, accuracy count, packed into
 * one tensor so that the step waits for the device once. Awaited: WebGPU cannot read synchronously.
 */
export async function readStepScalars(loss: tf.Scalar, finite: tf.Scalar, gradNorm: tf.Scalar, correct: tf.Scalar): Promise<StepScalars> {
  const packed = tf.stack([loss, finite, gradNorm, correct]);
  try {
    const values = await packed.data();
    return { loss: values[0], finite: values[1] === 1, gradNorm: values[2], correct: values[3] };
  } finally {
    packed.dispose();
  }
}

/** What a step reports when a component met non-finite values before the read. */
export const NON_FINITE_SCALARS: Readonly<StepScalars> = { loss: Number.NaN, finite: false, gradNorm: Number.NaN, correct: 0 };

/** Non-finite values met inside a component (e.g. KL clipping) count as a skipped step, not an error. */
export function isNonFiniteInput(err: unknown): boolean {
  return err instanceof NatgradError && err.code === 'NON_FINITE_INPUT';
}
