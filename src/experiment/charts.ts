/**
 * SVG charts for report.md, drawn headless with vega-lite → vega (no browser,
 * no canvas: vega's SVG renderer needs neither).
 */
import type { RunReport } from './report-types';
import { bestStudent } from './report';

type VegaLiteSpec = Record<string, unknown>;

interface VegaModules {
  compile(spec: VegaLiteSpec): { spec: unknown };
  parse(spec: unknown): unknown;
  View: new (runtime: unknown, options: { renderer: 'none' }) => { toSVG(): Promise<string>; finalize(): void };
}

async function loadVega(): Promise<VegaModules> {
  // Both packages are ESM-only; a real dynamic import keeps this CommonJS build working.
  const [vegaLite, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  return {
    compile: vegaLite.compile as unknown as VegaModules['compile'],
    parse: vega.parse as unknown as VegaModules['parse'],
    View: vega.View as unknown as VegaModules['View'],
  };
}

async function render(modules: VegaModules, spec: VegaLiteSpec): Promise<string> {
  const view = new modules.View(modules.parse(modules.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

type CurveMetric = 'validationAccuracy' | 'validationRmse' | 'testAccuracy' | 'testRmse';

/**
 * The split the curves show: validation when the histories have it (the engine then measures epochs on validation
 * alone and reads the test split once, at the end), else the test split, which the title then names.
 */
function curveMetric(report: RunReport): { metric: CurveMetric; title: string } {
  const models = [report.teacher, ...report.students];
  const classification = report.task === 'classification';
  const onValidation = models.some((model) =>
    model.history.some((epoch) => typeof epoch[classification ? 'validationAccuracy' : 'validationRmse'] === 'number'),
  );
  const split = onValidation ? 'validation' : 'test';
  const title = `${onValidation ? 'Validation' : 'Test'} ${classification ? 'accuracy' : 'RMSE'} per epoch`;
  return { metric: `${split}${classification ? 'Accuracy' : 'Rmse'}`, title };
}

/** Validation (or, without a validation split, test) accuracy or RMSE per epoch for every model with a history. */
export function learningCurvesSpec(report: RunReport): VegaLiteSpec {
  const { metric, title } = curveMetric(report);
  // A labels twin (`sameAs`) is another student's report under a second name: its curve is drawn once, as that student.
  const drawn = [report.teacher, ...report.students.filter((student) => student.sameAs === undefined)];
  const values = drawn.flatMap((model) =>
    model.history
      .filter((epoch) => typeof epoch[metric] === 'number')
      .map((epoch) => ({ model: model.name, epoch: epoch.epoch, value: epoch[metric] })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title,
    width: 520,
    height: 300,
    data: { values },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'epoch', type: 'quantitative', title: 'epoch' },
      y: { field: 'value', type: 'quantitative', title: metric, scale: { zero: false } },
      color: { field: 'model', type: 'nominal' },
    },
  };
}

export function confusionSpec(name: string, confusion: number[][], labels: string[]): VegaLiteSpec {
  const values = confusion.flatMap((row, actual) =>
    row.map((count, predicted) => ({
      actual: labels[actual] ?? String(actual),
      predicted: labels[predicted] ?? String(predicted),
      count,
    })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Confusion matrix: ${name}`,
    width: 320,
    height: 320,
    data: { values },
    encoding: {
      x: { field: 'predicted', type: 'ordinal', sort: labels },
      y: { field: 'actual', type: 'ordinal', sort: labels },
    },
    layer: [
      {
        mark: 'rect',
        encoding: { color: { field: 'count', type: 'quantitative', scale: { type: 'symlog', scheme: 'blues' } } },
      },
      { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  };
}

/** Both charts as SVG text; the confusion matrix only for classifiers. (The accuracy–cost frontier: frontier.ts.) */
export async function renderCharts(
  report: RunReport,
  labels: string[],
): Promise<{ curves: string; confusion?: string }> {
  const modules = await loadVega();
  const curves = await render(modules, learningCurvesSpec(report));
  const best = bestStudent(report);
  const confusion = best?.confusion
    ? await render(modules, confusionSpec(best.name, best.confusion, labels))
    : undefined;
  return confusion ? { curves, confusion } : { curves };
}
