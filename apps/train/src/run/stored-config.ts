/**
 * config.json read back at resume goes through the very validator of `natgrad train`'s flags: each
 * stored value is turned back into its flag and parsed, so a value the command line would refuse
 * (batch -5, optimizer "nope", a string where a number belongs) is refused here too, with the file
 * and the key named, before anything is written. Keys absent from configs of older versions
 * (width, statisticsWorker) may be missing; every other key must be there.
 */
import { NatgradError } from '@natgrad/core';
import { FlagError } from '../flags/flag-error';
import { TRAIN_FLAGS, type TrainConfig, parseTrainFlags } from '../flags/train-flags';

/** Keys older natgrad versions did not write. */
const OPTIONAL_KEYS = new Set<string>(['width', 'statisticsWorker']);
/** Keys whose "not set" is stored as null. */
const NULLABLE_KEYS = new Set<string>(['dataDir', 'width', 'targetAccuracy', 'trainSize', 'testSize']);
/** Flags that are not part of a stored config, or whose stored value is not used at resume. */
const NOT_STORED = new Set<string>(['resume', 'json', 'help', 'distributed']);

function problem(file: string, problems: string[]): NatgradError {
  return new NatgradError('INVALID_ARGUMENT', `Invalid ${file}: ${problems.join('; ')}.`, {
    expected: "the run's configuration as natgrad train wrote it, with values its flags accept (natgrad train --help)",
    received: problems.join('; '),
    fix: `restore ${file} from a copy of the run (or correct the value named above), or start a new run`,
  });
}

/** Validates the `config` object of a run's config.json; returns it as TrainConfig. */
export function validateStoredConfig(file: string, config: unknown): TrainConfig {
  if (config === null || typeof config !== 'object' || Array.isArray(config)) throw problem(file, ['"config" is not an object']);
  const stored = config as Record<string, unknown>;
  const problems: string[] = [];
  const argv: string[] = [];
  const keyOf = new Map<string, string>();
  for (const [flag, spec] of Object.entries(TRAIN_FLAGS)) {
    if (NOT_STORED.has(flag)) continue;
    const key = spec.key;
    keyOf.set(flag, key);
    const v = stored[key];
    if (v === undefined) {
      if (!OPTIONAL_KEYS.has(key)) problems.push(`"${key}" is missing`);
      continue;
    }
    if (v === null) {
      if (!NULLABLE_KEYS.has(key)) problems.push(`"${key}" is null`);
      continue;
    }
    const want = spec.kind.type === 'int' || spec.kind.type === 'number' ? 'number' : 'string';
    if (typeof v !== want) {
      problems.push(`"${key}": ${JSON.stringify(v)} is not a ${want}`);
      continue;
    }
    // Without a curvature estimator the stored damping is 0, which the flag (a damping > 0) refuses.
    if (key === 'damping' && stored.curvature === 'none') continue;
    // The runs folder is where new runs go; a resumed run stays where it is.
    if (key === 'runsDir') continue;
    argv.push(`--${flag}=${String(v)}`);
  }
  if (problems.length > 0) throw problem(file, problems);
  let parsed: TrainConfig;
  try {
    parsed = parseTrainFlags(argv).config;
  } catch (err) {
    if (!(err instanceof FlagError)) throw err;
    throw problem(
      file,
      err.problems.map((p) => `"${keyOf.get(p.flag) ?? p.flag}": ${p.message}`),
    );
  }
  return { ...parsed, runsDir: stored.runsDir as string };
}
