/**
 * Measures the float32 inverse residuals r = ‖(A+λI)X − I‖_F/√n of the blocked and Newton–Schulz
 * methods on the browser tier's backend (docs/browser-backends.md's WebGL table comes from here),
 * and checks each against the bound inverse.test.ts asserts (policy.ts,
 * FLOAT32_ACCUMULATION_GUARANTEE: factor·κ·u + γ_n·κ up to maxKappa). Not part of the tier; run:
 *
 *   NATGRAD_BROWSER_MEASURE=1 NATGRAD_TEST_BACKEND=webgl pnpm vitest run \
 *     --config vitest.browser.config.ts scripts/browser-tests/linalg-residuals.measure.ts
 */
import * as tf from '@tensorflow/tfjs';
import { expect, it } from 'vitest';
import {
  FLOAT32_ACCUMULATION_GUARANTEE,
  accumulationErrorBound,
  dampedInverseDetailed,
  inverseResidual,
} from '../../packages/linalg/src/index';
import { dampingForCondition, kfacFactor, randomSpd } from '../../packages/linalg/src/test-matrices';

const U = 2 ** -24;

it(`float32 inverse residuals on ${tf.getBackend()}`, async () => {
  const rows = [`backend ${tf.getBackend()}; r as a multiple of κu where κ > 1e3`, '| n | κ | blocked, random | blocked, KFAC-like | Newton–Schulz, random | Newton–Schulz, KFAC-like | bound (blocked / NS) |', '|---|---|---|---|---|---|---|'];
  for (const n of [2, 16, 64, 128]) {
    const kfac = kfacFactor(n, 5 + n);
    for (const kappa of [1e3, 1e4, 1e5]) {
      const inputs = [
        { a: randomSpd(n, kappa, n * 7 + kappa), damping: 0 },
        { a: kfac.a, damping: dampingForCondition(kfac.lambdaMax, kappa) },
      ];
      const cells: string[] = [];
      const bounds: string[] = [];
      for (const method of ['blocked', 'newton-schulz'] as const) {
        const g = FLOAT32_ACCUMULATION_GUARANTEE[method];
        const bound = g.factor * kappa * U + accumulationErrorBound(n) * kappa;
        bounds.push(kappa <= g.maxKappa ? bound.toExponential(1) : '—');
        for (const { a: values, damping } of inputs) {
          const a = tf.tensor2d(Float32Array.from(values), [n, n]);
          try {
            const result = await dampedInverseDetailed(a, damping, { method, blockSize: 16 });
            const r = await inverseResidual(a, damping, result.inverse);
            result.inverse.dispose();
            if (kappa <= g.maxKappa) expect(r, `${method} n=${n} κ=${kappa}`).toBeLessThanOrEqual(bound);
            cells.push(kappa <= 1e3 ? r.toExponential(1) : `${(r / (kappa * U)).toFixed(0)}·κu`);
          } catch (error) {
            // Beyond maxKappa a float32 method may refuse with a coded error (docs/algorithms/linalg.md).
            if (kappa <= g.maxKappa) throw error;
            cells.push(`(${(error as { code?: string }).code ?? 'error'})`);
          } finally {
            a.dispose();
          }
        }
      }
      rows.push(`| ${n} | ${kappa.toExponential(0)} | ${cells.join(' | ')} | ${bounds.join(' / ')} |`);
    }
  }
  console.info(rows.join('\n'));
});
