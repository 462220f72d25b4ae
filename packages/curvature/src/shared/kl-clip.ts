/**
 * KL clipping, kfac-pytorch's rule (Pauloski et al. 2020, KAISA; originally Ba, Grosse & Martens
 * 2017, "Distributed second-order optimization using Kronecker-factored approximations", sec. 5):
 *   vg = lr^2 * sum_l <d_l, g_l>,   nu = min(1, sqrt(klClip / |vg|)),   d_l <- nu d_l
 * where d_l is the preconditioned direction and g_l the raw gradient of every covered parameter.
 * This is the only place on the step path that reads the device (one scalar, awaited: WebGPU cannot
 * read synchronously), and only when enabled. The per-parameter products are summed with
 * sumTensors, not tf.addN: a model with 8 or more covered parameters exceeds WebGPU's 8 storage
 * buffers per shader stage, where addN silently returns garbage.
 */
import * as tf from '@tensorflow/tfjs-core';
import { NatgradError, type ParamMap, sumTensors } from '@natgrad/core';

/**
 * Scales `directions[name]` for every name in `names` present in both maps. The map entries are
 * REPLACED by the scaled tensors and the replaced tensors are disposed (the map is updated in place,
 * like an assign); other entries are untouched. Returns nu (1 when no scaling was needed).
 */
export async function applyKlClip(
  owner: string,
  directions: ParamMap,
  grads: ParamMap,
  names: readonly string[],
  learningRate: number,
  klClip: number,
): Promise<number> {
  const covered = names.filter((n) => directions[n] !== undefined && grads[n] !== undefined);
  if (covered.length === 0) return 1;
  // The scalar is built in a tidy; its read is awaited outside (a tidy cannot span an await).
  const vgTensor = tf.tidy(() =>
    tf.mul(sumTensors(covered.map((n) => tf.sum(tf.mul(directions[n], grads[n])))), learningRate * learningRate),
  );
  let vg: number;
  try {
    vg = (await vgTensor.data())[0];
  } finally {
    vgTensor.dispose();
  }
  if (!Number.isFinite(vg)) {
    throw new NatgradError('NON_FINITE_INPUT', `${owner}: KL clipping met a non-finite <direction, gradient>.`, {
      expected: 'finite directions and gradients',
      received: String(vg),
      fix: 'check the loss and the damping (too small a damping can overflow the preconditioner)',
    });
  }
  // The directions are scaled only after the read: the caller must not change the maps meanwhile.
  const nu = vg === 0 ? 1 : Math.min(1, Math.sqrt(klClip / Math.abs(vg)));
  if (nu < 1) {
    for (const n of covered) {
      const old = directions[n];
      directions[n] = tf.mul(old, nu);
      old.dispose();
    }
  }
  return nu;
}
