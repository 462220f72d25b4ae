/**
 * The optimizers the page offers, by the CLI's names, each a @natgrad/trainer preset with its
 * defaults (learning rate 0.1 for sgd, 1e-3 for adamw, 0.01 for the curvature ones) unless the
 * user sets a learning rate. Whether a preset is elementwise matters to the parity check: only
 * those have no curvature condition number in their error bound.
 */
import { NatgradError, describeValue } from '@natgrad/core';
import { type Composition, adamw, diagonal, diagonalFop, fop, kfac, sgd } from '@natgrad/trainer';

export const OPTIMIZERS = ['fop', 'kfac', 'diagonal-fop', 'diagonal', 'sgd', 'adamw'] as const;
export type OptimizerName = (typeof OPTIMIZERS)[number];

export const OPTIMIZER_LABELS: Readonly<Record<OptimizerName, string>> = {
  fop: 'FOP (KFAC + Fisher-orthogonal projection)',
  kfac: 'KFAC',
  'diagonal-fop': 'FOP over the diagonal Fisher',
  diagonal: 'diagonal Fisher',
  sgd: 'SGD (momentum 0.9)',
  adamw: 'AdamW',
};

export function isOptimizerName(value: unknown): value is OptimizerName {
  return typeof value === 'string' && (OPTIMIZERS as readonly string[]).includes(value);
}

/** True for the update rules without a curvature preconditioner. */
export function isElementwise(name: OptimizerName): boolean {
  return name === 'sgd' || name === 'adamw';
}

export function composition(name: OptimizerName, learningRate?: number): Composition {
  if (!isOptimizerName(name)) {
    throw new NatgradError('INVALID_ARGUMENT', 'Unknown optimizer.', { expected: OPTIMIZERS.join(', '), received: describeValue(name), fix: 'pick one of the listed optimizers' });
  }
  if (learningRate !== undefined && !(Number.isFinite(learningRate) && learningRate > 0)) {
    throw new NatgradError('INVALID_ARGUMENT', 'The learning rate must be a positive number.', {
      expected: 'a number > 0, e.g. 0.01, or empty for the preset default',
      received: describeValue(learningRate),
      fix: 'type a positive number or clear the field',
    });
  }
  const o = learningRate === undefined ? {} : { learningRate };
  switch (name) {
    case 'fop':
      return fop(o);
    case 'kfac':
      return kfac(o);
    case 'diagonal-fop':
      return diagonalFop(o);
    case 'diagonal':
      return diagonal(o);
    case 'sgd':
      return sgd(o);
    case 'adamw':
      return adamw(o);
  }
}
