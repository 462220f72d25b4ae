/**
 * Charts with vega-lite (compiled to vega and rendered headless to SVG; no browser, no canvas)
 * and, where wanted, SVG to PNG with resvg. A run's plot is a 2x2 grid: train loss and test
 * accuracy against epochs and against training seconds; the compare plot draws test accuracy of
 * several runs against both axes, one colour per run.
 */
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { EpochRecord } from './metrics';

type Row = Record<string, string | number>;

async function render(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

// Field names double as axis titles (a repeat cannot set titles per cell), hence the spaces.
const EPOCH = 'epoch';
const SECONDS = 'training seconds';
const LOSS = 'train loss';
const ACCURACY = 'test accuracy';

/** SVG of one run: loss and accuracy against epochs and seconds. */
export function renderRunPlot(records: EpochRecord[], title: string): Promise<string> {
  const values: Row[] = records.map((r) => ({ [EPOCH]: r.epoch, [SECONDS]: r.elapsedSeconds, [LOSS]: r.trainLoss, [ACCURACY]: r.testAccuracy }));
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    background: 'white',
    repeat: { row: [LOSS, ACCURACY], column: [EPOCH, SECONDS] },
    spec: {
      width: 260,
      height: 160,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: { repeat: 'column' }, type: 'quantitative' },
        y: { field: { repeat: 'row' }, type: 'quantitative', scale: { zero: false } },
      },
    },
  };
  return render(spec);
}

export interface NamedRun {
  name: string;
  records: EpochRecord[];
}

/** SVG of test accuracy for several runs against epochs and seconds. */
export function renderComparePlot(runs: NamedRun[], title = 'test accuracy by run'): Promise<string> {
  const values: Row[] = runs.flatMap((run) =>
    run.records.map((r) => ({ run: run.name, [EPOCH]: r.epoch, [SECONDS]: r.elapsedSeconds, [ACCURACY]: r.testAccuracy })),
  );
  const spec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    background: 'white',
    repeat: { column: [EPOCH, SECONDS] },
    spec: {
      width: 320,
      height: 220,
      mark: { type: 'line', point: true },
      encoding: {
        x: { field: { repeat: 'column' }, type: 'quantitative' },
        y: { field: ACCURACY, type: 'quantitative', scale: { zero: false } },
        color: { field: 'run', type: 'nominal' },
      },
    },
  };
  return render(spec);
}

/**
 * PNG rendering of an SVG. resvg is a native addon, loaded lazily so that a bundle without it
 * still writes SVGs; the caller decides what a failure means.
 */
export async function svgToPng(svg: string, scale = 2): Promise<Uint8Array> {
  const { Resvg } = await import('@resvg/resvg-js');
  const resvg = new Resvg(svg, { fitTo: { mode: 'zoom', value: scale }, background: 'white', font: { loadSystemFonts: true } });
  return resvg.render().asPng();
}
