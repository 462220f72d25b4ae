/**
 * Test-only helpers shared by the run-folder tests (run-folder, damaged checkpoints, interrupts,
 * fault injection): a byte snapshot of a folder, to prove a refused resume wrote nothing, and the
 * process groups of spawned launchers, to end whatever a test left running.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

/** Every file of a folder (recursively) with its bytes, keyed by relative path. */
export function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else files.set(relative(dir, p), readFileSync(p).toString('base64'));
    }
  };
  walk(dir);
  return files;
}

/** Process groups of spawned launchers (each leads its own group); killAll() ends what is left. */
export class ProcessGroups {
  private readonly pgids: number[] = [];

  add(pgid: number): void {
    this.pgids.push(pgid);
  }

  killAll(): void {
    for (const pgid of this.pgids) {
      try {
        process.kill(-pgid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}
