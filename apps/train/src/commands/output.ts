/**
 * Where a command writes: results to stdout, progress and diagnostics to stderr. Commands take
 * this object instead of touching process.stdout, so tests capture both streams in memory.
 */
export interface Output {
  stdout(text: string): void;
  stderr(text: string): void;
  /** Whether stderr is a terminal (the progress bar redraws in place only then). */
  stderrIsTTY: boolean;
  stderrColumns?: number;
}

export const processOutput: Output = {
  stdout: (t) => {
    process.stdout.write(t);
  },
  stderr: (t) => {
    process.stderr.write(t);
  },
  stderrIsTTY: process.stderr.isTTY === true,
  stderrColumns: process.stderr.columns,
};

/** An Output that records everything (tests). */
export function memoryOutput(): Output & { out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    out,
    err,
    stdout: (t) => {
      out.push(t);
    },
    stderr: (t) => {
      err.push(t);
    },
    stderrIsTTY: false,
  };
}
