/**
 * dampingFromState(state): rebuilds any damping schedule of this package from its StateDict (the
 * options are saved alongside the mutable values), so a checkpoint restores the damping without
 * the caller repeating the options.
 */
import { type DampingSchedule, type JsonValue, NatgradError, type StateDict } from '@natgrad/core';
import { CONSTANT_KIND, constant } from './constant';
import { COSINE_DECAY_KIND, cosineDecay } from './cosine-decay';
import { EXPONENTIAL_DECAY_KIND, exponentialDecay } from './exponential-decay';
import { LEVENBERG_MARQUARDT_KIND, type LevenbergMarquardtOptions, levenbergMarquardt } from './levenberg-marquardt';
import { PIECEWISE_CONSTANT_KIND, piecewiseConstant } from './piecewise-constant';
import { STEP_DECAY_KIND, stepDecay } from './step-decay';

type Config = Record<string, JsonValue>;

const builders: Record<string, (c: Config) => DampingSchedule> = {
  [CONSTANT_KIND]: (c) => {
    const { value, ...rest } = c;
    return constant(value as number, rest as never);
  },
  [STEP_DECAY_KIND]: (c) => stepDecay(c as never),
  [EXPONENTIAL_DECAY_KIND]: (c) => exponentialDecay(c as never),
  [COSINE_DECAY_KIND]: (c) => cosineDecay(c as never),
  [PIECEWISE_CONSTANT_KIND]: (c) => piecewiseConstant(c as never),
  [LEVENBERG_MARQUARDT_KIND]: (c) => levenbergMarquardt({ ...(c as object as LevenbergMarquardtOptions), max: c.max === null ? Number.POSITIVE_INFINITY : (c.max as number) }),
};

export function dampingFromState(state: StateDict): DampingSchedule {
  const build = state && typeof state === 'object' ? builders[state.kind] : undefined;
  const config = state?.values?.config;
  if (build === undefined || config === null || typeof config !== 'object' || Array.isArray(config)) {
    throw new NatgradError('STATE_MISMATCH', 'dampingFromState(): not a damping schedule state.', {
      expected: `kind one of ${Object.keys(builders).join(', ')} with values.config`,
      received: state && typeof state === 'object' ? `kind ${JSON.stringify(state.kind)}` : String(state),
      fix: 'pass the StateDict returned by a damping schedule of @natgrad/damping',
    });
  }
  let schedule: DampingSchedule;
  try {
    schedule = build(config);
  } catch (cause) {
    throw new NatgradError('CHECKPOINT_CORRUPT', 'dampingFromState(): the saved options are invalid.', {
      expected: 'options a schedule accepts',
      received: JSON.stringify(config),
      fix: 'restore from an intact checkpoint',
      cause,
    });
  }
  schedule.setState(state);
  return schedule;
}
