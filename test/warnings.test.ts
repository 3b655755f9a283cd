/**
 * The model warnings' rules (src/experiment/warnings.ts) on hand-made metrics: a model that learned nothing, one that
 * answers one class, a teacher not clearly better than the labels-trained student, a teacher that overfits.
 */
import {
  learnedNothing,
  modelWarnings,
  outcomesOf,
  teacherNotBetter,
  teacherOverfits,
  type TestedModel,
} from '../src/experiment/warnings';

/** A confusion matrix's rows (actual classes) from per-class predicted counts. */
const classifier = (confusion: number[][], method: TestedModel['method'] = { type: 'hard-labels' }): TestedModel => {
  const n = confusion.flat().reduce((sum, count) => sum + count, 0);
  const right = confusion.reduce((sum, row, k) => sum + (row[k] ?? 0), 0);
  return { name: 's', role: 'student', method, test: { n, accuracy: right / n }, confusion };
};

describe('a model that learned nothing', () => {
  test("the issue's penguins: below the majority rate, answering Chinstrap for 51 of 86 rows", () => {
    // actual: Adelie 40, Chinstrap 15, Gentoo 31 (majority 40/86 = 46.5 %); predicted Chinstrap 51 times; 23 right (26.7 %)
    const confusion = [
      [2, 33, 5],
      [3, 8, 4],
      [8, 10, 13],
    ];
    const model = classifier(confusion, { type: 'soft-targets', temperature: 4, alpha: 0.9, standardizeLogits: false });
    expect(model.test).toMatchObject({ n: 86 });
    const warning = learnedNothing(model, ['Adelie', 'Chinstrap', 'Gentoo']);
    expect(warning).toMatchObject({ kind: 'learned-nothing', model: 's' });
    expect(warning?.message).toContain('test accuracy 26.7 % is at or below the 46.5 %');
    expect(warning?.message).toContain("'Adelie'");
    expect(warning?.message).toContain(
      "it answers 'Chinstrap' for 51 of the 86 test rows (59.3 %), a class that is 15",
    );
    expect(warning?.message).toContain('method.temperature 4');
    expect(warning?.message).toContain('training.optimizer.lr');
  });

  test('exactly the majority rate (always answering the majority class) is learned nothing; one row more is not', () => {
    expect(
      learnedNothing(
        classifier([
          [0, 40],
          [0, 60],
        ]),
      ),
    ).toMatchObject({ kind: 'learned-nothing' }); // 60 % = 60 %
    expect(
      learnedNothing(
        classifier([
          [60, 0],
          [39, 1],
        ]),
      ),
    ).toBeUndefined(); // 61 %; 99 % on a class of 60 %: no collapse
  });

  test('the majority rate is judged in counts, not in floats: 674 of 976 right as 1 − 302/976 is still the majority', () => {
    const benefits: TestedModel = {
      ...classifier([
        [0, 302],
        [0, 674],
      ]),
      name: 'labels',
    };
    benefits.test = { n: 976, accuracy: 1 - 302 / 976 };
    expect(benefits.test.accuracy).toBeGreaterThan(674 / 976); // the rounding that hid the warning
    expect(learnedNothing(benefits)).toMatchObject({ kind: 'learned-nothing', model: 'labels' });
  });

  test('one class for most rows, at least twice as often as it occurs, though above the majority rate: one-class', () => {
    // actual a 55, b 10, c 35; 59 right (above 55 %); b answered 51 times
    const collapse = learnedNothing(
      classifier([
        [40, 15, 0],
        [0, 10, 0],
        [0, 26, 9],
      ]),
      ['a', 'b', 'c'],
    );
    expect(collapse).toMatchObject({ kind: 'one-class', model: 's' });
    expect(collapse?.message).toContain(
      "it answers 'b' for 51 of the 100 test rows (51.0 %), a class that is 10 of them (10.0 %)",
    );
    // balanced, class 1 answered for 80 of 100 rows: a lean, not a collapse (80 < 2 × 50)
    expect(
      learnedNothing(
        classifier([
          [15, 35],
          [5, 45],
        ]),
      ),
    ).toBeUndefined();
  });

  test('a test set of one class has nothing to beat; an unknown class name is its index', () => {
    expect(
      learnedNothing(
        classifier([
          [10, 0],
          [0, 0],
        ]),
      ),
    ).toBeUndefined();
    expect(
      learnedNothing(
        classifier([
          [0, 6],
          [0, 4],
        ]),
      )?.message,
    ).toContain('(class 0)');
  });

  test('regression: R² ≤ 0 is no better than the test mean', () => {
    const base = { name: 'r', role: 'teacher', method: null } as const;
    const warning = learnedNothing({ ...base, test: { n: 50, rmse: 2, r2: -0.5625 } });
    expect(warning).toMatchObject({ kind: 'learned-nothing', model: 'r' });
    expect(warning?.message).toContain("no better than predicting the test targets' mean (RMSE 1.600");
    expect(learnedNothing({ ...base, test: { n: 50, rmse: 1, r2: 0.2 } })).toBeUndefined();
  });
});

describe('a teacher not worth distilling', () => {
  const right = (pattern: string): boolean[] => Array.from(pattern, (c) => c === '1');

  test('paired on validation: the exact McNemar test, the teacher ahead at p < 0.05, or a warning', () => {
    // 10 rows only the teacher gets right, 0 only the student: p = 0.002
    const clear = teacherNotBetter(
      { name: 't', score: 0.9, outcomes: { task: 'classification', right: right('1111111111' + '1'.repeat(20)) } },
      { name: 'l', score: 0.6, outcomes: { task: 'classification', right: right('0000000000' + '1'.repeat(20)) } },
      'classification',
    );
    expect(clear).toBeUndefined();
    // 5 against 3: not clear
    const unclear = teacherNotBetter(
      { name: 't', score: 0.7, outcomes: { task: 'classification', right: right('11111000' + '1'.repeat(10)) } },
      { name: 'l', score: 0.6, outcomes: { task: 'classification', right: right('00000111' + '1'.repeat(10)) } },
      'classification',
    );
    expect(unclear).toMatchObject({ kind: 'teacher-not-better', model: 't' });
    expect(unclear?.message).toContain('5 validation rows only the teacher gets right, 3 only the student; p = 0.7266');
    expect(unclear?.message).toContain("training.schedule: { type: 'cosine' }");
  });

  test('without per-row predictions: a gap over 1.96 standard errors of the difference', () => {
    const teacher = (score: number) => ({ name: 't', score, rows: 200 });
    const labels = { name: 'l', score: 0.7, rows: 200 };
    expect(teacherNotBetter(teacher(0.75), labels, 'classification')?.message).toContain(
      '(a gap of 8.7 points on 200 rows would be clear)',
    );
    expect(teacherNotBetter(teacher(0.8), labels, 'classification')).toBeUndefined();
    expect(teacherNotBetter({ name: 't', score: 1.2 }, { name: 'l', score: 1.1 }, 'regression')?.kind).toBe(
      'teacher-not-better',
    );
    expect(teacherNotBetter({ name: 't', score: 1.0 }, { name: 'l', score: 1.1 }, 'regression')).toBeUndefined();
    expect(teacherNotBetter({ name: 't' }, labels, 'classification')).toBeUndefined(); // no validation: no judgement
  });

  test('overfitting: training accuracy more than 15 points above validation', () => {
    const warning = teacherOverfits('t', { trainAccuracy: 0.926, validationAccuracy: 0.567 });
    expect(warning).toMatchObject({ kind: 'teacher-overfits', model: 't' });
    expect(warning?.message).toContain('92.6 % on its training rows against 56.7 % on validation');
    expect(warning?.message).toContain("training.checkpoint: 'best'");
    expect(teacherOverfits('t', { trainAccuracy: 0.8, validationAccuracy: 0.7 })).toBeUndefined();
    expect(teacherOverfits('t', { trainAccuracy: 0.99 })).toBeUndefined(); // no validation split
  });

  test('modelWarnings: the teacher against the best labels student of each distilled architecture', () => {
    const mlp8 = { type: 'mlp', hidden: [8] };
    const mlp4 = { type: 'mlp', hidden: [4] };
    const warnings = modelWarnings({
      task: 'classification',
      reports: [],
      classNames: [],
      teacher: { name: 't', metrics: { trainAccuracy: 0.99, validationAccuracy: 0.72, validationErrors: 56 } },
      students: [
        { name: 'soft', metrics: { validationAccuracy: 0.7 } },
        { name: 'l8a', metrics: { validationAccuracy: 0.6 } },
        { name: 'l8b', metrics: { validationAccuracy: 0.71 } },
        { name: 'l4', metrics: { validationAccuracy: 0.5 } }, // no distilled student of its size: not compared
      ],
      planned: [
        { name: 'soft', model: mlp8, labelsTrained: false },
        { name: 'l8a', model: mlp8, labelsTrained: true },
        { name: 'l8b', model: mlp8, labelsTrained: true },
        { name: 'l4', model: mlp4, labelsTrained: true },
      ],
      validationOutcomes: () => undefined,
    });
    expect(warnings.map((warning) => warning.kind)).toEqual(['teacher-overfits', 'teacher-not-better']);
    expect(warnings[1]?.message).toContain('not clearly better than l8b');
    expect(warnings[1]?.message).toContain('on 200 rows'); // rows from the teacher's 56 errors at 72 %
  });
});

test('validation predictions files: class indices, or rows of values for regression', () => {
  expect(outcomesOf({ rows: 3, prediction: [0, 1, 2], target: [0, 2, 2] })).toEqual({
    task: 'classification',
    right: [true, false, true],
  });
  expect(
    outcomesOf({
      rows: 2,
      prediction: [
        [1, 2],
        [0, 0],
      ],
      target: [
        [1, 0],
        [3, 4],
      ],
    }),
  ).toEqual({
    task: 'regression',
    squaredError: [4, 25],
  });
  expect(outcomesOf({ prediction: [0], target: [0, 1] })).toBeUndefined();
  expect(outcomesOf(null)).toBeUndefined();
});
