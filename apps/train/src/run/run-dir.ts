/**
 * The run folder: runs/<timestamp>-<name>/ holding config.json (the full TrainConfig plus the
 * environment), metrics.jsonl, metrics.csv, plot.svg (+ plot.png), summary.json and checkpoint/.
 * Names sort by start time and never contain characters that shells or Windows dislike.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { NatgradError } from '@natgrad/core';
import type { TrainConfig } from '../flags/train-flags';

export interface RunPaths {
  dir: string;
  config: string;
  metrics: string;
  csv: string;
  plotSvg: string;
  plotPng: string;
  summary: string;
  checkpoint: string;
}

export function runPaths(dir: string): RunPaths {
  const d = resolve(dir);
  return {
    dir: d,
    config: join(d, 'config.json'),
    metrics: join(d, 'metrics.jsonl'),
    csv: join(d, 'metrics.csv'),
    plotSvg: join(d, 'plot.svg'),
    plotPng: join(d, 'plot.png'),
    summary: join(d, 'summary.json'),
    checkpoint: join(d, 'checkpoint'),
  };
}

/** 2025-01-31T12-00-00 style local timestamp, safe in file names. */
export function timestamp(date = new Date()): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${p(date.getMonth() + 1)}-${p(date.getDate())}T${p(date.getHours())}-${p(date.getMinutes())}-${p(date.getSeconds())}`;
}

export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^-+|-+$/g, '') || 'run';
}

/**
 * Creates a fresh run folder. mkdir itself is the test (no check-then-create): a name another
 * process created first, even in the same instant, fails with EEXIST and the next suffix is tried.
 */
export function createRunDir(runsDir: string, name: string, date = new Date()): RunPaths {
  try {
    mkdirSync(runsDir, { recursive: true });
  } catch (cause) {
    throw runsDirError(runsDir, cause);
  }
  const base = join(runsDir, `${timestamp(date)}-${safeName(name)}`);
  for (let i = 1; i < 10000; i++) {
    const dir = i === 1 ? base : `${base}-${i}`;
    try {
      mkdirSync(dir);
      return runPaths(dir);
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw runsDirError(runsDir, cause);
    }
  }
  throw new NatgradError('INVALID_ARGUMENT', `No free run folder name under ${runsDir}.`, {
    expected: `a name ${base}[-N] not taken yet`,
    received: '9999 folders of that name',
    fix: 'pass another --name or --runs-dir',
  });
}

function runsDirError(runsDir: string, cause: unknown): NatgradError {
  const code = (cause as NodeJS.ErrnoException).code;
  return new NatgradError('INVALID_ARGUMENT', `--runs-dir ${runsDir}: cannot create a run folder there.`, {
    expected: 'a folder (or a path where one can be created) that natgrad may write',
    received: code === 'EEXIST' || code === 'ENOTDIR' ? `${runsDir} (or a parent of it) is a file` : String((cause as Error).message ?? cause),
    fix: 'pass --runs-dir a writable folder, e.g. --runs-dir runs',
    cause,
  });
}

export interface StoredConfig {
  config: TrainConfig;
  environment: Record<string, string | number>;
}

/**
 * Replaces a file's text in one step (temp file, then rename): a kill leaves the old text or the
 * new, never a truncated config.json that would make the run impossible to resume.
 */
export function writeTextAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, text);
    renameSync(tmp, file);
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export function writeConfig(paths: RunPaths, stored: StoredConfig): void {
  writeTextAtomic(paths.config, `${JSON.stringify(stored, null, 2)}\n`);
}

export function readConfig(dir: string): StoredConfig {
  const paths = runPaths(dir);
  if (!existsSync(paths.config)) {
    throw new NatgradError('INVALID_ARGUMENT', `${dir} is not a natgrad run folder.`, {
      expected: 'a folder written by natgrad train, holding config.json',
      received: existsSync(paths.dir) ? 'a folder without config.json' : 'no such folder',
      fix: 'pass a folder under runs/, e.g. runs/2025-01-31T12-00-00-mnist-cnn-fop',
    });
  }
  try {
    const stored = JSON.parse(readFileSync(paths.config, 'utf8')) as StoredConfig;
    if (typeof stored.config?.optimizer !== 'string') throw new Error('no config.optimizer');
    return stored;
  } catch (cause) {
    throw new NatgradError('INVALID_ARGUMENT', `Unreadable ${paths.config}.`, {
      expected: 'the JSON written by natgrad train',
      received: (cause as Error).message,
      fix: 'restore config.json from a backup or start a new run',
      cause,
    });
  }
}
