import { describe, expect, it } from 'vitest';
import { FlagError } from './flag-error';
import { PRESETS, parseTrainFlags, trainHelp } from './train-flags';

function problemsOf(argv: string[]): { flag: string; message: string }[] {
  try {
    parseTrainFlags(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(FlagError);
    expect((e as FlagError).code).toBe('INVALID_ARGUMENT');
    return (e as FlagError).problems;
  }
  throw new Error('expected a FlagError');
}

describe('natgrad train flags', () => {
  it('defaults to FOP on the embedded MNIST with the small CNN', () => {
    const { config, json, resume } = parseTrainFlags([]);
    expect(config).toMatchObject({ dataset: 'mnist', model: 'cnn', optimizer: 'fop', curvature: 'kfac', projection: 'fop', backend: 'auto' });
    expect(config.lr).toBe(PRESETS.fop.lr);
    expect(json).toBe(false);
    expect(resume).toBeNull();
  });

  it('parses every value flag with its type', () => {
    const { config, json } = parseTrainFlags([
      '--dataset', 'cifar10', '--optimizer', 'adamw', '--batch', '64', '--epochs', '3', '--lr', '2e-3',
      '--lr-schedule', 'cosine', '--warmup', '10', '--momentum', '0.8', '--weight-decay', '0', '--fisher', 'empirical',
      '--factor-every', '2', '--inverse-every', '5', '--seed', '9', '--backend', 'wasm', '--target-accuracy', '0.5', '--json',
    ]);
    expect(config).toMatchObject({ dataset: 'cifar10', model: 'resnet', optimizer: 'adamw', curvature: 'none', batch: 64, epochs: 3, lr: 2e-3, lrSchedule: 'cosine', warmup: 10, momentum: 0.8, weightDecay: 0, fisher: 'empirical', factorEvery: 2, inverseEvery: 5, seed: 9, backend: 'wasm', targetAccuracy: 0.5 });
    expect(json).toBe(true);
  });

  it('swaps one component of a preset at a time', () => {
    expect(parseTrainFlags(['--optimizer', 'fop', '--curvature', 'diagonal']).config).toMatchObject({ curvature: 'diagonal', projection: 'fop' });
    expect(parseTrainFlags(['--optimizer', 'kfac', '--projection', 'average']).config).toMatchObject({ curvature: 'kfac', projection: 'average' });
  });

  it('names the flag and the allowed values for every bad flag at once', () => {
    const problems = problemsOf(['--dataset', 'imagenet', '--batch', 'x', '--momentum', '1', '--backend', 'tpu']);
    expect(problems.map((p) => p.flag)).toEqual(['dataset', 'batch', 'momentum', 'backend']);
    expect(problems[0].message).toContain('allowed values: mnist, fashion-mnist, cifar10');
    expect(problems[1].message).toContain('an integer >= 2');
    expect(problems[2].message).toContain('< 1');
    expect(problems[3].message).toContain('auto, webgpu, tensorflow-gpu, tensorflow, wasm, cpu');
  });

  it('rejects unknown flags, positionals, missing values and impossible combinations', () => {
    expect(problemsOf(['--optimiser', 'fop'])[0]).toMatchObject({ flag: 'optimiser' });
    expect(problemsOf(['oops'])[0].message).toContain('positional');
    expect(problemsOf(['--lr'])[0].flag).toBe('lr');
    expect(problemsOf(['--optimizer', 'sgd', '--projection', 'fop'])[0]).toMatchObject({ flag: 'projection' });
    expect(problemsOf(['--batch', '33'])[0].message).toContain('even');
    expect(problemsOf(['--target-accuracy', '97'])[0].message).toContain('<= 1');
  });

  it('clamps the default batch to a tiny subset and keeps it even', () => {
    expect(parseTrainFlags(['--train-size', '33']).config.batch).toBe(32);
  });

  it('lists every flag with its allowed values in --help', () => {
    const help = trainHelp();
    expect(help).toContain('--curvature [kfac|diagonal|none]');
    expect(help).toContain('--resume');
  });
});
