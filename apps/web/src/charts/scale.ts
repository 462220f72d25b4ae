/**
 * The arithmetic of the page's SVG charts, kept apart from the DOM so it is tested in Node: the
 * extent of the finite values (a skipped step's NaN loss must not stretch an axis to Infinity),
 * "nice" tick values (1, 2 or 5 times a power of ten), linear and log10 scales, and an SVG path
 * that breaks at missing points instead of drawing a line through them.
 */

export interface Point {
  x: number;
  y: number;
}

export type Scale = (value: number) => number;

/** [min, max] of the finite values, widened when degenerate; null when there is none. */
export function finiteExtent(values: Iterable<number>, positiveOnly = false): [number, number] | null {
  let lo = Number.POSITIVE_INFINITY;
  let hi = Number.NEGATIVE_INFINITY;
  for (const v of values) {
    if (!Number.isFinite(v) || (positiveOnly && v <= 0)) continue;
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (lo > hi) return null;
  if (lo === hi) {
    const pad = lo === 0 ? 1 : Math.abs(lo) * 0.1;
    return positiveOnly ? [lo / 2, hi * 2] : [lo - pad, hi + pad];
  }
  return [lo, hi];
}

/** Tick values covering [lo, hi] at a step of 1, 2 or 5 × 10^k, about `count` of them. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(Number.isFinite(lo) && Number.isFinite(hi)) || hi <= lo || count < 1) return [];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const first = Math.ceil(lo / step - 1e-9);
  const ticks: number[] = [];
  for (let k = first; k * step <= hi + step * 1e-9; k++) ticks.push(Number((k * step).toPrecision(12)));
  return ticks;
}

/** Powers of ten within [lo, hi] (lo > 0), for a log axis; falls back to niceTicks inside a decade. */
export function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.ceil(Math.log10(lo) - 1e-9); 10 ** e <= hi * (1 + 1e-9); e++) ticks.push(10 ** e);
  return ticks.length >= 2 ? ticks : niceTicks(lo, hi, 4);
}

export function linearScale([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

export function logScale([d0, d1]: [number, number], [r0, r1]: [number, number]): Scale {
  const inner = linearScale([Math.log10(d0), Math.log10(d1)], [r0, r1]);
  return (v) => inner(Math.log10(v));
}

/** An SVG path through the points, a new segment after every non-finite (or non-plottable) point. */
export function linePath(points: readonly Point[], sx: Scale, sy: Scale): string {
  let d = '';
  let pen = false;
  for (const p of points) {
    const x = sx(p.x);
    const y = sy(p.y);
    if (!(Number.isFinite(x) && Number.isFinite(y))) {
      pen = false;
      continue;
    }
    d += `${pen ? 'L' : 'M'}${x.toFixed(1)},${y.toFixed(1)}`;
    pen = true;
  }
  return d;
}

/** Short tick labels: 0.001 → "1e-3", 12000 → "1.2e4", 0.25 → "0.25". */
export function formatTick(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-2) {
    const [m, e] = v.toExponential(1).split('e');
    return `${m.replace(/\.0$/, '')}e${Number(e)}`;
  }
  return String(Number(v.toPrecision(3)));
}
