/**
 * The conversion table of docs/coming-from-kfac-pytorch.md, checked numerically: natgrad's factors
 * against kfac-pytorch's formulas (kfac/layers/modules.py get_a_factor/get_g_factor with
 * kfac/layers/utils.py get_cov, applied to the gradient of the MEAN loss, PyTorch's default reduction)
 * and ASDL's (asdl/operations/{linear,conv}.py cov_kron_A/B with cov_scale = 1/N on a SUM loss),
 * written out by hand on tiny batches; then the damping and KL-clip mappings end to end through the
 * estimator. With N examples and L output locations:
 *   Dense:  A = A_kp,      G = N² · G_kp          Conv2D: A = L² · A_kp,  G = N² L³ · G_kp
 *   ASDL:   A without its bias row/column = A_asdl, G = B_asdl (Dense and Conv2D)
 */
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ConvProblem,
  type DenseProblem,
  addIdentity,
  convProblem,
  denseProblem,
  kron,
  randomArray,
  relError,
  rng,
  solve,
} from '../testing/brute-force';
import { kfac } from './estimator';
import { batchFactors } from './factors';

/** kfac-pytorch's get_cov: aᵀa / rows (float64). */
function getCov(rows: number[][]): number[][] {
  const d = rows[0].length;
  const m = Array.from({ length: d }, () => new Array<number>(d).fill(0));
  for (const r of rows) for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) m[i][j] += (r[i] * r[j]) / rows.length;
  return m;
}

const scaled = (m: number[][], s: number) => m.map((row) => row.map((v) => v * s));
const flat = (m: number[][]) => m.flat();
/** Drops the last row and column (the bias entry of a bias-augmented A). */
const withoutBias = (m: number[][]) => m.slice(0, -1).map((row) => row.slice(0, -1));

async function rowsOf(t: tf.Tensor, width: number): Promise<number[][]> {
  const values = Array.from(await t.data());
  const rows: number[][] = [];
  for (let i = 0; i < values.length; i += width) rows.push(values.slice(i, i + width));
  return rows;
}

describe('natgrad factors against kfac-pytorch and ASDL', () => {
  const n = 6;
  let dense: DenseProblem;
  let conv: ConvProblem;
  beforeAll(async () => {
    dense = await denseProblem(71, n, 3, 4);
    // stride 1, 'valid': PyTorch's unfold without padding gathers exactly these patches (L = 3·2 = 6).
    conv = await convProblem(72, { n, size: [4, 3], cin: 2, cout: 3, kernel: [2, 2], strides: [1, 1], dilation: [1, 1], padding: 'valid' });
  });
  afterAll(() => {
    dense.dispose();
    conv.dispose();
  });

  it('Dense: A equals kfac-pytorch\'s, G is N² times kfac-pytorch\'s; ASDL\'s A and B are natgrad\'s without the bias entry', async () => {
    const x = (await dense.x.array()) as number[][];
    const gradOutput = await rowsOf(dense.capture.outputGrad, 4); // d(mean loss)/d(output), as PyTorch's hook sees it
    const aKp = getCov(x.map((r) => [...r, 1])); // append_bias_ones, get_cov
    const gKp = getCov(gradOutput);
    // ASDL: a SUM loss makes out_grads the per-example gradients (N · grad of the mean), cov_scale = 1/N.
    const aAsdl = scaled(x.reduce((m, r) => m.map((row, i) => row.map((v, j) => v + r[i] * r[j])), x[0].map(() => x[0].map(() => 0))), 1 / n);
    const bAsdl = getCov(gradOutput.map((r) => r.map((v) => v * n)));
    const { a, g } = batchFactors(dense.layer, dense.capture, n);
    const A = await rowsOf(a, 4);
    const G = await rowsOf(g, 4);
    expect(relError(flat(A), flat(aKp))).toBeLessThan(1e-6);
    expect(relError(flat(G), flat(scaled(gKp, n * n)))).toBeLessThan(1e-5);
    expect(relError(flat(withoutBias(A)), flat(aAsdl))).toBeLessThan(1e-6);
    expect(relError(flat(G), flat(bAsdl))).toBeLessThan(1e-5);
    tf.dispose([a, g]);
  });

  it('Conv2D: A is L² times kfac-pytorch\'s, G is N²L³ times kfac-pytorch\'s; ASDL\'s A and B are natgrad\'s without the bias entry', async () => {
    const L = conv.patches.length / n;
    expect(L).toBe(6);
    const gradOutput = await rowsOf(conv.capture.outputGrad, 3); // [N·L, cout] in (n, y, x) order
    // kfac-pytorch: patches with the ones column divided by the spatial size, then get_cov over N·L rows;
    // grad_output rows divided by the spatial size, get_cov over N·L rows.
    const aKp = getCov(conv.patches.map((r) => [...r, 1].map((v) => v / L)));
    const gKp = getCov(gradOutput.map((r) => r.map((v) => v / L)));
    // ASDL: A = (1/N) Σ_n (patches_n patches_nᵀ) / L (no ones column); B = (1/N) Σ_{n,t} g gᵀ of per-example gradients.
    const aAsdl = getCov(conv.patches);
    const bAsdl = scaled(getCov(gradOutput.map((r) => r.map((v) => v * n))), L);
    const { a, g } = batchFactors(conv.layer, conv.capture, n);
    const A = await rowsOf(a, conv.patches[0].length + 1);
    const G = await rowsOf(g, 3);
    expect(relError(flat(A), flat(scaled(aKp, L * L)))).toBeLessThan(1e-5);
    expect(relError(flat(G), flat(scaled(gKp, n * n * L ** 3)))).toBeLessThan(1e-5);
    expect(relError(flat(withoutBias(A)), flat(aAsdl))).toBeLessThan(1e-5);
    expect(relError(flat(G), flat(bAsdl))).toBeLessThan(1e-5);
    tf.dispose([a, g]);
  });

  it('damping λ = N²·λ_kp (eigen mode) gives 1/N² of kfac-pytorch\'s eigen-method direction; klClip = N²·kl_clip with lr = N²·lr_kp gives its ν', async () => {
    const lambdaKp = 0.003;
    const klClipKp = 1e-4;
    const lrKp = 0.1;
    const x = (await dense.x.array()) as number[][];
    const gradOutput = await rowsOf(dense.capture.outputGrad, 4);
    const aKp = getCov(x.map((r) => [...r, 1]));
    const gKp = getCov(gradOutput);
    const r = rng(73);
    const kernelGrad = randomArray(12, r);
    const biasGrad = randomArray(4, r);
    const vec = [...kernelGrad, ...biasGrad]; // vec(W~) row-major: kernel rows [in, out], then the bias row
    // kfac-pytorch, ComputeMethod.EIGEN: (A ⊗ G + λ I)⁻¹ g, then ν = min(1, sqrt(kl_clip / |lr² ⟨d, g⟩|)).
    const dKp = solve(addIdentity(kron(aKp, gKp), lambdaKp), vec);
    const vgKp = lrKp ** 2 * dKp.reduce((s, v, i) => s + v * vec[i], 0);
    const nuKp = Math.min(1, Math.sqrt(klClipKp / Math.abs(vgKp)));
    expect(nuKp).toBeLessThan(1); // the clip is active, so ν tests the mapping

    const c = n * n;
    const est = kfac({ damping: 'eigen', klClip: c * klClipKp });
    est.init([dense.layer], { [dense.layer.kernel]: dense.kernel, [dense.layer.bias as string]: dense.bias as tf.Variable });
    await est.updateStatistics({ captures: { [dense.layer.name]: dense.capture }, grads: {}, batchSize: n });
    await est.refreshInverses(c * lambdaKp);
    const grads = { [dense.layer.kernel]: tf.tensor2d(kernelGrad, [3, 4]), [dense.layer.bias as string]: tf.tensor1d(biasGrad) };
    const d = est.precondition(grads);
    const dVec = [...(await d[dense.layer.kernel].data()), ...(await d[dense.layer.bias as string].data())];
    expect(relError(dVec, dKp.map((v) => v / c))).toBeLessThan(2e-4);
    const nu = await est.scaleUpdate(d, grads, c * lrKp);
    expect(Math.abs(nu - nuKp) / nuKp).toBeLessThan(1e-4);
    tf.dispose([...Object.values(grads), ...Object.values(d)]);
    est.dispose();
  });
});
