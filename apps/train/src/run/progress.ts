/**
 * The training progress display on stderr: on a TTY a single line redrawn in place (steps, loss,
 * samples/s, ETA); otherwise plain lines at most every few seconds, so CI logs stay readable.
 * Never writes to stdout, which belongs to results (and to JSON lines under --json).
 */

export interface ProgressSink {
  isTTY?: boolean;
  columns?: number;
  write(chunk: string): unknown;
}

export interface ProgressUpdate {
  epoch: number;
  epochs: number;
  step: number;
  steps: number;
  loss: number;
  samplesPerSecond: number;
}

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--:--';
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export class ProgressBar {
  private lastPlain = -Infinity;
  private drawn = false;

  constructor(
    private readonly sink: ProgressSink,
    private readonly plainIntervalMs = 5000,
    private readonly now: () => number = () => Date.now(),
  ) {}

  line(u: ProgressUpdate): string {
    const width = 20;
    const filled = Math.round((u.step / Math.max(1, u.steps)) * width);
    const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
    return `epoch ${u.epoch}/${u.epochs} [${bar}] ${u.step}/${u.steps} loss ${u.loss.toFixed(4)} ${Math.round(u.samplesPerSecond)} samples/s`;
  }

  update(u: ProgressUpdate, etaSeconds: number): void {
    const text = `${this.line(u)} ETA ${formatDuration(etaSeconds)}`;
    if (this.sink.isTTY) {
      const cols = this.sink.columns ?? 120;
      this.sink.write(`\r${text.slice(0, cols - 1).padEnd(Math.min(cols - 1, text.length + 2))}`);
      this.drawn = true;
      return;
    }
    const t = this.now();
    if (u.step === u.steps || t - this.lastPlain >= this.plainIntervalMs) {
      this.lastPlain = t;
      this.sink.write(`${text}\n`);
    }
  }

  /** Ends the in-place line so the next message starts on a fresh line. */
  done(): void {
    if (this.drawn) this.sink.write('\n');
    this.drawn = false;
  }
}
