/**
 * What a person watches while models train, and the learning curves of report.md: validation when the run has a
 * validation split (the engine then reads the test split once, for the final model), the test split named as such
 * when it has none.
 */
import { LineReporter } from '../src/cli/progress';
import type { EngineEvent } from '../src/engine';
import { learningCurvesSpec } from '../src/experiment/charts';
import type { RunReport } from '../src/experiment/report-types';

const epoch = (metrics: Record<string, number>): EngineEvent => ({
  event: 'epoch',
  phase: 'student',
  name: 'mlp-8',
  epoch: 2,
  epochs: 5,
  metrics: { loss: 0.5, terms: {}, lr: 0.001, seconds: 1.5, samplesPerSecond: 100, ...metrics },
});

function lineFor(event: EngineEvent): string {
  const lines: string[] = [];
  new LineReporter((line) => lines.push(line)).onEvent(event);
  return lines.join('\n');
}

describe('progress lines', () => {
  test('with a validation split an epoch shows validation, named val, with the agreement with the teacher', () => {
    const line = lineFor(epoch({ trainAccuracy: 0.99, validationAccuracy: 0.971, validationAgreement: 0.98 }));
    expect(line).toBe('[student mlp-8] epoch 2/5: loss 0.5000 train 99.00% val 97.10% agree 98.00% (1.5 s)');
  });

  test('without one an epoch shows the test split, named test', () => {
    expect(lineFor(epoch({ testAccuracy: 0.9, testAgreement: 0.95 }))).toContain('test 90.00% agree 95.00%');
    expect(lineFor(epoch({ testRmse: 0.25 }))).toContain('test rmse 0.2500');
  });

  test('regression on validation: the RMSE, and the distance to the teacher', () => {
    const line = lineFor(epoch({ validationRmse: 0.5, validationRmseToTeacher: 0.125 }));
    expect(line).toContain('val rmse 0.5000 to teacher 0.1250');
    expect(line).not.toContain('test');
  });
});

describe('a teacher answering the rows', () => {
  const event = (called: number, seconds: number) =>
    ({
      event: 'labelling',
      teacher: 'api',
      split: 'train',
      rows: 1000,
      cached: 200,
      called,
      calls: called / 20,
      failures: 1,
      retries: 1,
      seconds,
    }) as const;

  test('a line at most every 5 s with rows, cached rows, calls, failures, retries and the ETA, and one at the end', () => {
    const lines: string[] = [];
    let now = 0;
    const reporter = new LineReporter(
      (line) => lines.push(line),
      () => now,
    );
    now = 6000;
    reporter.onLabelling(event(200, 4)); // 200 asked in 4 s: 600 left, 12 s at that pace
    now = 7000;
    reporter.onLabelling(event(300, 5)); // within 5 s of the last line: not shown
    now = 8000;
    reporter.onLabelling(event(800, 9)); // done: always shown
    expect(lines).toEqual([
      '[teacher api] train: rows 400/1000 (200 cached) · 10 calls · 1 failed · 1 retried · ETA 12 s',
      '[teacher api] train: rows 1000/1000 (200 cached) · 40 calls · 1 failed · 1 retried · done',
    ]);
  });
});

describe('learning curves', () => {
  const report = (task: 'classification' | 'regression', history: Record<string, number>[]): RunReport =>
    ({
      task,
      teacher: { name: 'teacher', history: history.map((h, i) => ({ epoch: i + 1, ...h })) },
      students: [{ name: 'student', history: [] }],
    }) as unknown as RunReport;

  test('plot validation when the histories have it', () => {
    const spec = learningCurvesSpec(
      report('classification', [{ validationAccuracy: 0.8 }, { validationAccuracy: 0.9 }]),
    );
    expect(spec.title).toBe('Validation accuracy per epoch');
    expect(spec.data).toEqual({
      values: [
        { model: 'teacher', epoch: 1, value: 0.8 },
        { model: 'teacher', epoch: 2, value: 0.9 },
      ],
    });
  });

  test("draw a labels twin (auto kept the labels student) once, under the student's own name", () => {
    const history = [{ epoch: 1, validationAccuracy: 0.7 }];
    const twins = {
      task: 'classification',
      teacher: { name: 'teacher', history: [] },
      students: [
        { name: 'base', history },
        { name: 'pick-1', sameAs: 'base', history },
      ],
    } as unknown as RunReport;
    expect(learningCurvesSpec(twins).data).toEqual({ values: [{ model: 'base', epoch: 1, value: 0.7 }] });
  });

  test('plot the test split, and say so, when there is no validation split', () => {
    expect(learningCurvesSpec(report('classification', [{ testAccuracy: 0.7 }])).title).toBe('Test accuracy per epoch');
    const regression = learningCurvesSpec(report('regression', [{ testRmse: 1.5 }]));
    expect([regression.title, regression.data]).toEqual([
      'Test RMSE per epoch',
      { values: [{ model: 'teacher', epoch: 1, value: 1.5 }] },
    ]);
  });
});
