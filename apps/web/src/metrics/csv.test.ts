import { describe, expect, it } from 'vitest';
import { metricsCsv } from './csv';
import type { RunRecord } from './run-record';

const fopRun: RunRecord = {
  id: 'A',
  optimizer: 'fop',
  backend: 'webgl',
  dataset: 'mnist',
  seed: 3,
  steps: [
    { step: 0, seconds: 0.5, loss: 2.3, gradNorm: 1.5, skipped: false, diagnostics: { dense1: { beta: 0.2, eta: 1.1, s: -0.3, perpRatio: 0.9 } } },
    { step: 1, seconds: 1, loss: Number.NaN, gradNorm: Number.POSITIVE_INFINITY, skipped: true, diagnostics: {} },
  ],
  evals: [{ step: 2, seconds: 1.2, testLoss: 2.1, testAccuracy: 0.25 }],
};
const sgdRun: RunRecord = { ...fopRun, id: 'B', optimizer: 'sgd, "plain"', steps: [{ step: 0, seconds: 0.1, loss: 2.2, gradNorm: 1, skipped: false, diagnostics: {} }], evals: [] };

describe('metrics CSV', () => {
  it('has one row per run and step, test metrics on the step that completed them, diagnostics per layer', () => {
    const lines = metricsCsv([fopRun, sgdRun]).trimEnd().split('\n');
    expect(lines[0]).toBe('run,optimizer,backend,dataset,seed,step,seconds,loss,grad_norm,skipped,test_loss,test_accuracy,dense1.beta,dense1.eta,dense1.s,dense1.perpRatio');
    expect(lines[1]).toBe('A,fop,webgl,mnist,3,0,0.5,2.3,1.5,0,,,0.2,1.1,-0.3,0.9');
    // Non-finite values are empty cells; the evaluation after 2 steps sits on step 1.
    expect(lines[2]).toBe('A,fop,webgl,mnist,3,1,1,,,1,2.1,0.25,,,,');
    // A field with a comma or quote is quoted, quotes doubled.
    expect(lines[3]).toBe('B,"sgd, ""plain""",webgl,mnist,3,0,0.1,2.2,1,0,,,,,,');
    expect(lines).toHaveLength(4);
  });

  it('is a header only for no runs', () => {
    expect(metricsCsv([]).split('\n').filter(Boolean)).toHaveLength(1);
  });
});
