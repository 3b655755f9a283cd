/**
 * SVG charts for report.md, drawn headless with vega-lite → vega (no browser,
 * no canvas: vega's SVG renderer needs neither).
 */
import type { RunReport } from './report';
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
  return { compile: vegaLite.compile as unknown as VegaModules["compile"], parse: vega.parse as unknown as VegaModules["parse"], View: vega.View as unknown as VegaModules['View'] };
}

async function render(modules: VegaModules, spec: VegaLiteSpec): Promise<string> {
  const view = new modules.View(modules.parse(modules.compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/** Test accuracy (or RMSE) per epoch for every model with a training history. */
export function learningCurvesSpec(report: RunReport): VegaLiteSpec {
  const metric = report.task === 'classification' ? 'testAccuracy' : 'testRmse';
  const values = [report.teacher, ...report.students].flatMap((model) =>
    model.history.filter((epoch) => typeof epoch[metric] === 'number').map((epoch) => ({ model: model.name, epoch: epoch.epoch, value: epoch[metric] })),
  );
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: report.task === 'classification' ? 'Test accuracy per epoch' : 'Test RMSE per epoch',
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
  const values = confusion.flatMap((row, actual) => row.map((count, predicted) => ({ actual: labels[actual] ?? String(actual), predicted: labels[predicted] ?? String(predicted), count })));
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
      { mark: 'rect', encoding: { color: { field: 'count', type: 'quantitative', scale: { type: 'symlog', scheme: 'blues' } } } },
      { mark: { type: 'text', fontSize: 9 }, encoding: { text: { field: 'count', type: 'quantitative' } } },
    ],
  };
}

/** One model on the accuracy–cost chart. */
export interface CostPoint {
  name: string;
  kind: 'teacher' | 'student' | 'variant';
  /** Test accuracy (classification) or RMSE (regression). */
  quality: number;
  latencyMs: number | null;
  sizeBytes: number;
}

/**
 * The Pareto front over one cost: the points that no other point beats on quality at no more cost. Sorted by cost,
 * a point is on the front when its quality is better than every cheaper point's.
 */
export function paretoFront<T>(points: readonly T[], cost: (point: T) => number, quality: (point: T) => number): Set<T> {
  const front = new Set<T>();
  let best = -Infinity;
  const sorted = [...points].sort((a, b) => cost(a) - cost(b) || quality(b) - quality(a));
  for (const point of sorted) {
    if (quality(point) > best) {
      front.add(point);
      best = quality(point);
    }
  }
  return front;
}

export function costPoints(report: RunReport): CostPoint[] {
  return [report.teacher, ...report.students].map((model) => ({
    name: model.name,
    kind: model.role,
    quality: 'accuracy' in model.test ? model.test.accuracy : model.test.rmse,
    latencyMs: model.latency?.batch1P50Ms ?? null,
    sizeBytes: model.sizeBytes,
  }));
}

/** Test quality against batch-1 latency and against file size, side by side, the Pareto front of each drawn as a line. */
export function accuracyCostSpec(points: readonly CostPoint[], task: 'classification' | 'regression'): VegaLiteSpec {
  const higherIsBetter = task === 'classification';
  const quality = (point: CostPoint): number => (higherIsBetter ? point.quality : -point.quality);
  const panel = (cost: 'latencyMs' | 'sizeBytes', title: string): VegaLiteSpec => {
    const usable = points.filter((point) => point[cost] !== null);
    const front = paretoFront(usable, (point) => point[cost]!, quality);
    const values = usable.map((point) => ({ ...point, cost: point[cost], pareto: front.has(point) ? 'Pareto front' : 'dominated' }));
    const frontValues = values.filter((value) => value.pareto === 'Pareto front').sort((a, b) => a.cost! - b.cost!);
    const y = { field: 'quality', type: 'quantitative', title: higherIsBetter ? 'test accuracy' : 'test RMSE', scale: { zero: false } };
    const x = { field: 'cost', type: 'quantitative', title, scale: { type: 'log' } };
    return {
      width: 300,
      height: 260,
      layer: [
        { data: { values: frontValues }, mark: { type: 'line', color: '#888', strokeDash: [4, 3] }, encoding: { x, y } },
        {
          data: { values },
          mark: { type: 'point', filled: true, size: 70 },
          encoding: {
            x,
            y,
            color: { field: 'kind', type: 'nominal', title: 'model' },
            shape: { field: 'pareto', type: 'nominal', title: '' },
            tooltip: [{ field: 'name' }, { field: 'quality' }, { field: 'cost' }],
          },
        },
        { data: { values }, mark: { type: 'text', dy: -9, fontSize: 9 }, encoding: { x, y, text: { field: 'name' } } },
      ],
    };
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `${higherIsBetter ? 'Accuracy' : 'RMSE'} against cost (dashed: the Pareto front)`,
    hconcat: [panel('latencyMs', 'batch-1 latency, ms (log)'), panel('sizeBytes', 'ONNX file size, bytes (log)')],
  };
}

/** The charts as SVG text; the confusion matrix only for classifiers. */
export async function renderCharts(report: RunReport, labels: string[]): Promise<{ curves: string; confusion?: string; accuracyCost: string }> {
  const modules = await loadVega();
  const curves = await render(modules, learningCurvesSpec(report));
  const accuracyCost = await render(modules, accuracyCostSpec(costPoints(report), report.task));
  const best = bestStudent(report);
  const confusion = best?.confusion ? await render(modules, confusionSpec(best.name, best.confusion, labels)) : undefined;
  return confusion ? { curves, confusion, accuracyCost } : { curves, accuracyCost };
}
