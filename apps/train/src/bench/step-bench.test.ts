/**
 * `natgrad bench step` end to end on a tiny MLP on the cpu backend (3 timed steps): the JSON has
 * one row per optimizer with every field, the markdown table matches it, the files are written,
 * no tensor is left behind, and bad flags are refused. No timing assertions (timings are noise here).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, describe, expect, it } from 'vitest';
import { memoryOutput } from '../commands/output';
import { main } from '../main';
import { BENCH_PHASES, type StepBenchResult, quantile } from './step-bench';

const tmp = mkdtempSync(join(tmpdir(), 'natgrad-bench-step-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const TINY = ['--model', 'mlp', '--width', '8', '--batch', '16', '--backend', 'cpu', '--steps', '3', '--warmup', '1', '--inverse-every', '2'];

describe('natgrad bench step', () => {
  it('times every optimizer and prints JSON and a markdown table of the same rows', async () => {
    await tf.setBackend('cpu');
    const before = tf.memory().numTensors;
    const out = memoryOutput();
    const code = await main(['bench', 'step', ...TINY, '--json', '--out', tmp], out);
    expect(code, out.err.join('')).toBe(0);
    // Building, stepping and disposing every optimizer's Trainer leaves no tensor behind.
    expect(tf.memory().numTensors).toBe(before);
    const result = JSON.parse(out.out.join('')) as StepBenchResult;
    expect(result).toMatchObject({ backend: 'cpu', model: 'mlp', batch: 16, steps: 3, warmup: 1, factorEvery: 1, inverseEvery: 2, fisher: 'sampled' });
    // 784-8-4-10 with biases.
    expect(result.parameters).toBe(784 * 8 + 8 + 8 * 4 + 4 + 4 * 10 + 10);
    expect(result.optimizers.map((o) => o.label)).toEqual(['sgd', 'adamw', 'kfac', 'fop', 'diagonal', 'diagonal-fop']);
    for (const o of result.optimizers) {
      expect(o.samplesMs).toHaveLength(3);
      expect(o.q1Ms).toBeLessThanOrEqual(o.medianMs);
      expect(o.medianMs).toBeLessThanOrEqual(o.q3Ms);
      expect(Object.keys(o.phasesMs)).toEqual([...BENCH_PHASES]);
      expect(o.peakBytes).toBeGreaterThanOrEqual(o.residentBytes);
      expect(o.residentBytes).toBeGreaterThan(0);
    }
    const sgd = result.optimizers[0];
    expect(sgd.ratioMedian).toBe(1);
    expect(sgd.ratioPaired).toBe(1);
    expect(sgd.statisticsSteps).toBe(0);
    const kfac = result.optimizers[2];
    // Steps 1..3 timed: statistics every step, inverses at steps 2 only.
    expect(kfac.statisticsSteps).toBe(3);
    expect(kfac.inverseSteps).toBe(1);
    expect(kfac.ratioMedian).toBeCloseTo(kfac.medianMs / sgd.medianMs, 10);
    const perRound = kfac.samplesMs.map((v, i) => v / sgd.samplesMs[i]).sort((a, b) => a - b);
    expect(kfac.ratioPaired).toBeCloseTo(perRound[1], 10);
    // Curvature state (factors and inverses) makes KFAC hold more than SGD.
    expect(kfac.residentBytes).toBeGreaterThan(sgd.residentBytes);
    const table = readFileSync(join(tmp, 'step-bench.md'), 'utf8');
    expect(table).toContain('| optimizer | median ms |');
    expect(table.split('\n').filter((l) => /^\| (sgd|adamw|kfac|fop|diagonal|diagonal-fop) \|/.test(l))).toHaveLength(6);
    expect(JSON.parse(readFileSync(join(tmp, 'step-bench.json'), 'utf8')).optimizers).toHaveLength(6);
  });

  it('prints the table by default and honours --optimizers', async () => {
    await tf.setBackend('cpu');
    const out = memoryOutput();
    const code = await main(['bench', 'step', ...TINY, '--optimizers', 'sgd,fop'], out);
    expect(code, out.err.join('')).toBe(0);
    const text = out.out.join('');
    expect(text).toContain('| fop |');
    expect(text).not.toContain('| kfac |');
    expect(text).toContain('1.00x');
  });

  it('refuses bad flags, naming each one', async () => {
    const out = memoryOutput();
    const code = await main(['bench', 'step', '--optimizers', 'sgd,lamb', '--optimizer', 'fop', '--steps', '0'], out);
    expect(code).toBe(2);
    const err = out.err.join('');
    expect(err).toContain('--optimizers');
    expect(err).toContain('--optimizer:');
    expect(err).toContain('--steps');
    const bad = memoryOutput();
    expect(await main(['bench', 'step', '--batch', 'x'], bad)).toBe(2);
    expect(bad.err.join('')).toContain('natgrad bench step');
    expect(await main(['bench', 'nope'], memoryOutput())).toBe(2);
  });

  it('quantile interpolates linearly', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4, 5], 0.25)).toBe(2);
    expect(quantile([7], 0.75)).toBe(7);
  });
});
