/**
 * Measures the float32 inverse residuals r = ‖(A+λI)X − I‖_F/√n of the blocked and Newton–Schulz
 * methods on the browser tier's backend (docs/browser-backends.md's WebGL table comes from here),
 * with blockSize 32 as inverse.test.ts, checking each against the bound it asserts (policy.ts,
 * FLOAT32_ACCUMULATION_GUARANTEE: factor·κ·u + γ_n·κ up to maxKappa), and records blocked with
 * blockSize 16 (one recursion level more at n = 128) without asserting: at κ = 1e5 that exceeds
 * the bound on webgl and on wasm alike (docs/browser-backends.md). Not part of the tier; run:
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
  const rows = [
    `backend ${tf.getBackend()}; r as a multiple of κu where κ > 1e3`,
    '| n | κ | blocked, random | blocked, KFAC-like | Newton–Schulz, random | Newton–Schulz, KFAC-like | bound (blocked / NS) | blocked bs 16, random | blocked bs 16, KFAC-like |',
    '|---|---|---|---|---|---|---|---|---|',
  ];
  const cell = (r: number, kappa: number) => (kappa <= 1e3 ? r.toExponential(1) : `${(r / (kappa * U)).toFixed(0)}·κu`);
  for (const n of [2, 16, 64, 128]) {
    const kfac = kfacFactor(n, 5 + n);
    for (const kappa of [1e3, 1e4, 1e5]) {
      const inputs = [
        { a: randomSpd(n, kappa, n * 7 + kappa), damping: 0 },
        { a: kfac.a, damping: dampingForCondition(kfac.lambdaMax, kappa) },
      ];
      const cells: string[] = [];
      const bounds: string[] = [];
      for (const [method, blockSize, checked] of [
        ['blocked', 32, true],
        ['newton-schulz', 32, true],
        ['blocked', 16, false],
      ] as const) {
        const g = FLOAT32_ACCUMULATION_GUARANTEE[method];
        const bound = g.factor * kappa * U + accumulationErrorBound(n) * kappa;
        if (checked) bounds.push(kappa <= g.maxKappa ? bound.toExponential(1) : '—');
        for (const { a: values, damping } of inputs) {
          const a = tf.tensor2d(Float32Array.from(values), [n, n]);
          try {
            const result = await dampedInverseDetailed(a, damping, { method, blockSize });
            const r = await inverseResidual(a, damping, result.inverse);
            result.inverse.dispose();
            if (checked && kappa <= g.maxKappa) expect(r, `${method} n=${n} κ=${kappa}`).toBeLessThanOrEqual(bound);
            cells.push(cell(r, kappa));
          } catch (error) {
            // Beyond maxKappa a float32 method may refuse with a coded error (docs/algorithms/linalg.md).
            if (checked && kappa <= g.maxKappa) throw error;
            cells.push(`(${(error as { code?: string }).code ?? 'error'})`);
          } finally {
            a.dispose();
          }
        }
      }
      const [br, bk, nr, nk, sr, sk] = cells;
      rows.push(`| ${n} | ${kappa.toExponential(0)} | ${br} | ${bk} | ${nr} | ${nk} | ${bounds.join(' / ')} | ${sr} | ${sk} |`);
    }
  }
  console.info(rows.join('\n'));
});
