/**
 * A line chart as an SVG string: axes with nice ticks, one path per series (broken at missing
 * points), a legend. A string rather than DOM calls so it is tested in Node and a redraw is one
 * innerHTML assignment per animation frame, cheap at the few thousand points a run produces; no
 * chart library (the page stays small and the tier has nothing else to load).
 */
import { type Point, type Scale, finiteExtent, formatTick, linePath, linearScale, logScale, logTicks, niceTicks } from './scale';

export interface Series {
  label: string;
  color: string;
  points: readonly Point[];
  dashed?: boolean;
}

export interface ChartSpec {
  title: string;
  xLabel: string;
  series: readonly Series[];
  /** Log10 y axis (non-positive values are dropped); for losses spanning decades. */
  logY?: boolean;
  width?: number;
  height?: number;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c] as string);
}

export function chartSvg(spec: ChartSpec): string {
  const width = spec.width ?? 420;
  const height = spec.height ?? 240;
  const m = { left: 52, right: 12, top: 26, bottom: 38 };
  const xs = finiteExtent(spec.series.flatMap((s) => s.points.map((p) => p.x)));
  const ys = finiteExtent(
    spec.series.flatMap((s) => s.points.map((p) => p.y)),
    spec.logY,
  );
  const head = `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 ${width} ${height}" role="img" aria-label="${escapeXml(spec.title)}">`;
  const title = `<text class="title" x="${m.left}" y="16">${escapeXml(spec.title)}</text>`;
  if (xs === null || ys === null) {
    return `${head}${title}<text class="empty" x="${width / 2}" y="${height / 2}" text-anchor="middle">no data yet</text></svg>`;
  }
  const xRange: [number, number] = [m.left, width - m.right];
  const yRange: [number, number] = [height - m.bottom, m.top];
  const sx: Scale = linearScale(xs, xRange);
  const sy: Scale = spec.logY ? logScale(ys, yRange) : linearScale(ys, yRange);
  const parts: string[] = [head, title];
  for (const t of niceTicks(xs[0], xs[1], 5)) {
    const x = sx(t).toFixed(1);
    parts.push(`<line class="grid" x1="${x}" x2="${x}" y1="${m.top}" y2="${height - m.bottom}"/><text class="tick" x="${x}" y="${height - m.bottom + 14}" text-anchor="middle">${formatTick(t)}</text>`);
  }
  for (const t of spec.logY ? logTicks(ys[0], ys[1]) : niceTicks(ys[0], ys[1], 4)) {
    const y = sy(t).toFixed(1);
    parts.push(`<line class="grid" x1="${m.left}" x2="${width - m.right}" y1="${y}" y2="${y}"/><text class="tick" x="${m.left - 4}" y="${y}" dy="0.32em" text-anchor="end">${formatTick(t)}</text>`);
  }
  parts.push(`<text class="axis" x="${(m.left + width - m.right) / 2}" y="${height - 6}" text-anchor="middle">${escapeXml(spec.xLabel)}</text>`);
  let legendX = width - m.right;
  for (const s of [...spec.series].reverse()) {
    const d = linePath(
      s.points.filter((p) => !spec.logY || p.y > 0),
      sx,
      sy,
    );
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="1.6"${s.dashed ? ' stroke-dasharray="5 3"' : ''}/>`);
    const w = 14 + 6.2 * s.label.length;
    legendX -= w;
    parts.push(`<g class="legend"><line x1="${legendX}" x2="${legendX + 10}" y1="12" y2="12" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="4 2"' : ''}/><text x="${legendX + 13}" y="16">${escapeXml(s.label)}</text></g>`);
  }
  parts.push('</svg>');
  return parts.join('');
}
