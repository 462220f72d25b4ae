/**
 * Checks of the folder flags before anything runs: a run that has trained for an hour must not
 * fail at its first write because --runs-dir names a file (a raw EEXIST from mkdir) or a folder it
 * cannot create. Only the file system's answer is used; nothing is created here.
 */
import { accessSync, constants, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { FlagProblem } from './flag-error';

function kindOf(path: string): 'directory' | 'file' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** A problem when `path` is not a folder natgrad can write run folders into, or create. */
export function checkOutputDir(flag: string, path: string): FlagProblem | null {
  const full = resolve(path);
  const kind = kindOf(full);
  const expected = 'a folder (existing or creatable) that natgrad can write to';
  if (kind === 'file') {
    return { flag, message: `${path} is a file, not a folder`, expected, received: `${full}: an existing file`, fix: `pass --${flag} a folder path, or move the file ${full} away` };
  }
  let ancestor = full;
  while (kindOf(ancestor) === 'missing' && dirname(ancestor) !== ancestor) ancestor = dirname(ancestor);
  if (kindOf(ancestor) === 'file') {
    return {
      flag,
      message: `${path} cannot be created: ${ancestor} is a file`,
      expected,
      received: `${ancestor}: an existing file on the path`,
      fix: `pass --${flag} a path whose parent folders are folders`,
    };
  }
  if (!writable(ancestor)) {
    return {
      flag,
      message: `${path} cannot be ${kind === 'directory' ? 'written to' : 'created'}: no write permission in ${ancestor}`,
      expected,
      received: `${ancestor}: not writable by this user`,
      fix: `pass --${flag} a folder you can write to (e.g. under your home folder)`,
    };
  }
  return null;
}

/** A problem when `path` exists and is not a folder (a missing one is reported by the dataset loader). */
export function checkInputDir(flag: string, path: string): FlagProblem | null {
  if (kindOf(resolve(path)) !== 'file') return null;
  return {
    flag,
    message: `${path} is a file, not a folder`,
    expected: 'the folder holding the dataset files',
    received: `${resolve(path)}: a file`,
    fix: `pass --${flag} the folder that holds this file: ${dirname(resolve(path))}`,
  };
}
