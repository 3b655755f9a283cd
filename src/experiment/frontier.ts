/**
 * The accuracy–cost frontier: test accuracy against batch-1 latency and against file size, for the teacher,
 * every student and every int8 / fp16 variant, with the Pareto front marked (vega-lite, drawn like charts.ts).
 */
import type { ModelReport, RunReport } from './report-types';

type VegaLiteSpec = Record<string, unknown>;

export interface FrontierPoint {
  name: string;
  kind: 'teacher' | 'student' | 'variant';
  accuracy: number;
  latencyMs: number;
  sizeBytes: number;
  /** A variant that failed its accuracy guard (export.maxAccuracyDrop). */
  rejected?: boolean;
}

/** Every classification model of the report that has a latency: teacher, students, their variants. */
export function frontierPoints(report: RunReport): FrontierPoint[] {
  const points: FrontierPoint[] = [];
  const add = (
    model: Pick<ModelReport, 'latency'> & { test: ModelReport['test'] | null; sizeBytes: number | null },
    name: string,
    kind: FrontierPoint['kind'],
    rejected?: boolean,
  ): void => {
    if (model.test === null || !('accuracy' in model.test) || !model.latency || model.sizeBytes === null) return;
    points.push({
      name,
      kind,
      accuracy: model.test.accuracy,
      latencyMs: model.latency.batch1P50Ms,
      sizeBytes: model.sizeBytes,
      ...(rejected ? { rejected } : {}),
    });
  };
  add(report.teacher, report.teacher.name, 'teacher');
  // A labels twin (`sameAs`) is the same model as another student: one point, not two.
  for (const student of report.students.filter((model) => model.sameAs === undefined)) {
    add(student, student.name, 'student');
    for (const variant of student.variants ?? []) add(variant, variant.name, 'variant', variant.rejected);
  }
  return points;
}

/**
 * The points no other point dominates on (accuracy, cost): none has at least the accuracy at no more cost,
 * better in one of the two. Sorted by cost.
 */
export function paretoFront(points: readonly FrontierPoint[], cost: (point: FrontierPoint) => number): FrontierPoint[] {
  const front = points.filter(
    (p) =>
      !points.some(
        (q) =>
          q !== p && q.accuracy >= p.accuracy && cost(q) <= cost(p) && (q.accuracy > p.accuracy || cost(q) < cost(p)),
      ),
  );
  return front.sort((a, b) => cost(a) - cost(b));
}

function panel(points: FrontierPoint[], field: 'latencyMs' | 'sizeBytes', title: string): VegaLiteSpec {
  const cost = (point: FrontierPoint): number => point[field];
  const front = new Set(paretoFront(points, cost).map((point) => point.name));
  const values = points.map((point) => ({
    ...point,
    sizeMB: point.sizeBytes / 2 ** 20,
    accuracyPercent: 100 * point.accuracy,
    front: front.has(point.name),
    status: point.rejected ? 'rejected' : front.has(point.name) ? 'on the Pareto front' : 'dominated',
  }));
  const x =
    field === 'latencyMs'
      ? { field: 'latencyMs', type: 'quantitative', title: 'batch-1 p50 latency (ms)', scale: { zero: false } }
      : { field: 'sizeMB', type: 'quantitative', title: 'ONNX file size (MB)', scale: { type: 'log' } };
  const y = { field: 'accuracyPercent', type: 'quantitative', title: 'test accuracy (%)', scale: { zero: false } };
  return {
    title,
    width: 340,
    height: 280,
    data: { values },
    layer: [
      // The front: a line through its points in order of cost.
      {
        transform: [{ filter: 'datum.front' }],
        mark: { type: 'line', strokeDash: [4, 3], color: '#888' },
        encoding: { x, y, order: { field: x.field, type: 'quantitative' } },
      },
      {
        mark: { type: 'point', filled: true, size: 70 },
        encoding: {
          x,
          y,
          color: { field: 'kind', type: 'nominal', scale: { domain: ['teacher', 'student', 'variant'] } },
          shape: {
            field: 'status',
            type: 'nominal',
            scale: { domain: ['on the Pareto front', 'dominated', 'rejected'], range: ['diamond', 'circle', 'cross'] },
          },
        },
      },
      {
        mark: { type: 'text', align: 'left', dx: 6, dy: -6, fontSize: 9 },
        encoding: { x, y, text: { field: 'name' } },
      },
    ],
  };
}

/** Two panels side by side: accuracy vs batch-1 latency, accuracy vs file size; the Pareto front dashed. */
export function frontierSpec(points: FrontierPoint[]): VegaLiteSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Accuracy against cost (dashed: the Pareto front)',
    hconcat: [
      panel(points, 'latencyMs', 'Accuracy vs batch-1 latency'),
      panel(points, 'sizeBytes', 'Accuracy vs file size'),
    ],
  };
}

/** The frontier as SVG text, or null when fewer than two models have an accuracy and a latency. */
export async function renderFrontier(report: RunReport): Promise<string | null> {
  const points = frontierPoints(report);
  if (points.length < 2) return null;
  const [vegaLite, vega] = await Promise.all([import('vega-lite'), import('vega')]);
  const view = new vega.View(vega.parse(vegaLite.compile(frontierSpec(points) as never).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}
