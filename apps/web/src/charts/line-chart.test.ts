import { describe, expect, it } from 'vitest';
import { chartSvg } from './line-chart';

describe('line chart SVG', () => {
  it('draws one path per series with ticks and an escaped legend, never NaN coordinates', () => {
    const svg = chartSvg({
      title: 'loss <train>',
      xLabel: 'step',
      series: [
        { label: 'A fop', color: '#1f77b4', points: [0, 1, 2, 3].map((x) => ({ x, y: 2.3 - 0.5 * x + (x === 2 ? Number.NaN : 0) })) },
        { label: 'B sgd & co', color: '#ff7f0e', points: [0, 1, 2, 3].map((x) => ({ x, y: 2.3 - 0.2 * x })), dashed: true },
      ],
    });
    expect(svg.match(/<path /g)).toHaveLength(2);
    expect(svg).toContain('loss &lt;train&gt;');
    expect(svg).toContain('B sgd &amp; co');
    expect(svg).toContain('stroke-dasharray');
    expect(svg).not.toContain('NaN');
    // The NaN point splits A's path in two segments.
    const pathA = svg.match(/<path d="([^"]*)"[^>]*stroke="#1f77b4"/)?.[1] ?? '';
    expect(pathA.match(/M/g)).toHaveLength(2);
  });

  it('says so when there is nothing finite to draw, and drops non-positive values on a log axis', () => {
    expect(chartSvg({ title: 't', xLabel: 's', series: [{ label: 'a', color: 'red', points: [{ x: 0, y: Number.NaN }] }] })).toContain('no data yet');
    const svg = chartSvg({ title: 't', xLabel: 's', logY: true, series: [{ label: 'a', color: 'red', points: [{ x: 0, y: 0 }, { x: 1, y: 0.1 }, { x: 2, y: 10 }] }] });
    expect(svg).not.toContain('NaN');
    expect(svg).not.toContain('Infinity');
    expect(svg.match(/<path d="([^"]*)"/)?.[1].match(/[ML]/g)).toHaveLength(2);
  });
});
