/**
 * The optimizers the page offers, by the CLI's names, each a @natgrad/trainer preset with the
 * CLI's measured defaults (apps/train/src/flags/train-flags.ts PRESETS, picked on the embedded
 * MNIST: damping 1e-2 because 1e-3 diverged, learning rate 0.05 for sgd, 1e-3 for adamw and the
 * diagonal Fisher, 0.01 for KFAC and FOP, weight decay 5e-4, 1e-2 for adamw), unless the user sets
 * a learning rate or damping. Whether a preset is elementwise matters to the parity check: only
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

/** The CLI's per-optimizer defaults (see the module header). */
export const DEFAULTS: Readonly<Record<OptimizerName, { learningRate: number; weightDecay: number; damping?: number }>> = {
  fop: { learningRate: 0.01, weightDecay: 5e-4, damping: 1e-2 },
  kfac: { learningRate: 0.01, weightDecay: 5e-4, damping: 1e-2 },
  'diagonal-fop': { learningRate: 1e-3, weightDecay: 5e-4, damping: 1e-2 },
  diagonal: { learningRate: 1e-3, weightDecay: 5e-4, damping: 1e-2 },
  sgd: { learningRate: 0.05, weightDecay: 5e-4 },
  adamw: { learningRate: 1e-3, weightDecay: 1e-2 },
};

export function composition(name: OptimizerName, learningRate?: number, damping?: number): Composition {
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
  if (damping !== undefined && !(Number.isFinite(damping) && damping > 0)) {
    throw new NatgradError('INVALID_ARGUMENT', 'The damping must be a positive number.', {
      expected: 'a number > 0, e.g. 0.01, or empty for the default',
      received: describeValue(damping),
      fix: 'type a positive number or clear the field',
    });
  }
  const d = DEFAULTS[name];
  const o = { learningRate: learningRate ?? d.learningRate, weightDecay: d.weightDecay };
  const c = { ...o, damping: damping ?? d.damping };
  switch (name) {
    case 'fop':
      return fop(c);
    case 'kfac':
      return kfac(c);
    case 'diagonal-fop':
      return diagonalFop(c);
    case 'diagonal':
      return diagonal(c);
    case 'sgd':
      return sgd(o);
    case 'adamw':
      return adamw(o);
  }
}
