/**
 * The run folder: runs/<timestamp>-<name>/ holding config.json (the full TrainConfig plus the
 * environment), metrics.jsonl, metrics.csv, plot.svg (+ plot.png), summary.json and checkpoint/.
 * Names sort by start time and never contain characters that shells or Windows dislike.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
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

/** Creates a fresh run folder; a same-second collision gets a numeric suffix. */
export function createRunDir(runsDir: string, name: string, date = new Date()): RunPaths {
  mkdirSync(runsDir, { recursive: true });
  const base = join(runsDir, `${timestamp(date)}-${safeName(name)}`);
  let dir = base;
  for (let i = 2; existsSync(dir); i++) dir = `${base}-${i}`;
  mkdirSync(dir);
  return runPaths(dir);
}

export interface StoredConfig {
  config: TrainConfig;
  environment: Record<string, string | number>;
}

export function writeConfig(paths: RunPaths, stored: StoredConfig): void {
  writeFileSync(paths.config, `${JSON.stringify(stored, null, 2)}\n`);
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
