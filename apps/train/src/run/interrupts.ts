/**
 * How a training process ends when it is told to stop: SIGINT, SIGTERM and SIGHUP, or the death of
 * the launcher that started it (bin/natgrad.mjs sets NATGRAD_LAUNCHER_PID; an orphan is re-parented,
 * so its ppid changes). Each prints where the run can be resumed from, releases the run's lock and
 * exits with 128 + the signal number (130 for Ctrl-C). Nothing is flushed or saved on the way out:
 * every file of the run folder is replaced atomically or appended, and a resume redoes the epoch
 * after the last checkpoint, so stopping at any instant is safe.
 */
import { constants } from 'node:os';

export interface StopTarget {
  /** The run folder, once it exists. */
  dir: string | null;
  /** Epochs in the last complete checkpoint (0: none yet). */
  checkpointEpoch: number;
  /** Releases the run's lock (idempotent). */
  release(): void;
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
const WATCH_MS = 500;

export function stopMessage(reason: string, target: StopTarget): string {
  if (target.dir === null) return `natgrad: ${reason} before the run folder was created; nothing to resume.\n`;
  if (target.checkpointEpoch === 0) {
    return `natgrad: ${reason} before the first checkpoint of ${target.dir}; start a new run (this folder has nothing to resume from).\n`;
  }
  return `natgrad: ${reason}; the run resumes from its checkpoint of epoch ${target.checkpointEpoch}: natgrad train --resume ${target.dir}\n`;
}

/**
 * Installs the handlers; returns the function that removes them. `exit` and `write` are
 * process.exit and a synchronous stderr write outside tests.
 */
export function guardInterrupts(
  target: StopTarget,
  exit: (code: number) => void = (code) => process.exit(code),
  write: (text: string) => void = (text) => process.stderr.write(text),
): () => void {
  let stopping = false;
  const stop = (reason: string, code: number) => {
    if (stopping) return;
    stopping = true;
    try {
      write(`\n${stopMessage(reason, target)}`);
      target.release();
    } finally {
      exit(code);
    }
  };
  const handlers = SIGNALS.map((signal) => {
    const handler = () => stop(`interrupted by ${signal}`, 128 + constants.signals[signal]);
    process.on(signal, handler);
    return [signal, handler] as const;
  });
  const launcher = Number(process.env.NATGRAD_LAUNCHER_PID);
  const watch =
    Number.isInteger(launcher) && launcher > 0
      ? setInterval(() => {
          if (process.ppid !== launcher) stop(`the natgrad launcher (pid ${launcher}) is gone`, 128 + constants.signals.SIGHUP);
        }, WATCH_MS)
      : null;
  watch?.unref();
  return () => {
    for (const [signal, handler] of handlers) process.off(signal, handler);
    if (watch !== null) clearInterval(watch);
  };
}
