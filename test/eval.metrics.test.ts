/** Metrics against small cases computed by hand. */
import {
  accuracy,
  confusionMatrix,
  errorCount,
  expectedCalibrationError,
  mae,
  negativeLogLikelihood,
  percentile,
  perClassMetrics,
  predictionAgreement,
  r2,
  rmse,
  topKAccuracy,
} from '../src/eval';
import { InputValidationError } from '../src/runtime';

describe('classification metrics', () => {
  const predicted = [0, 1, 2, 1, 0];
  const actual = [0, 1, 1, 1, 2];

  test('accuracy and error count', () => {
    expect(accuracy(predicted, actual)).toBeCloseTo(0.6, 15);
    expect(errorCount(predicted, actual)).toBe(2);
    expect(accuracy(Int32Array.of(3, 3), Int32Array.of(3, 3))).toBe(1);
  });

  test('confusion matrix is [actual][predicted]', () => {
    expect(confusionMatrix(predicted, actual)).toEqual([
      [1, 0, 0],
      [0, 2, 1],
      [1, 0, 0],
    ]);
    expect(confusionMatrix([0], [0], 3)).toEqual([
      [1, 0, 0],
      [0, 0, 0],
      [0, 0, 0],
    ]);
  });

  test('per-class precision, recall, F1 and support', () => {
    const metrics = perClassMetrics(predicted, actual);
    expect(metrics.map((m) => m.support)).toEqual([1, 3, 1]);
    expect(metrics[0]).toMatchObject({ index: 0, precision: 0.5, recall: 1 });
    expect(metrics[0]?.f1).toBeCloseTo(2 / 3, 15);
    expect(metrics[1]).toMatchObject({ precision: 1 });
    expect(metrics[1]?.recall).toBeCloseTo(2 / 3, 15);
    expect(metrics[1]?.f1).toBeCloseTo(0.8, 15);
    // Never right about class 2: everything is 0, not NaN.
    expect(metrics[2]).toMatchObject({ precision: 0, recall: 0, f1: 0 });
  });

  test('top-k accuracy, ties broken towards the lower class index', () => {
    const probabilities = [
      [0.5, 0.3, 0.2],
      [0.1, 0.6, 0.3],
      [0.2, 0.2, 0.6],
    ];
    expect(topKAccuracy(probabilities, [1, 2, 0], 1)).toBe(0);
    expect(topKAccuracy(probabilities, [1, 2, 0], 2)).toBe(1);
    expect(topKAccuracy([[0.2, 0.2, 0.6]], [1], 2)).toBe(0);
    expect(topKAccuracy([[0.2, 0.2, 0.6]], [1], 3)).toBe(1);
  });

  test('negative log-likelihood, clipped for zero probabilities', () => {
    expect(
      negativeLogLikelihood(
        [
          [0.5, 0.5],
          [0.25, 0.75],
        ],
        [0, 1],
      ),
    ).toBeCloseTo((Math.log(2) + Math.log(4 / 3)) / 2, 15);
    expect(negativeLogLikelihood([[1, 0]], [1])).toBeCloseTo(-Math.log(1e-12), 10);
  });

  test('expected calibration error with equal-width bins', () => {
    const probabilities = [
      [0.9, 0.05, 0.05], // right, confidence 0.9  → bin (0.5, 1]
      [0.6, 0.2, 0.2], //   wrong, confidence 0.6
      [0.4, 0.35, 0.25], // right, confidence 0.4  → bin (0, 0.5]
      [0.2, 0.45, 0.35], // wrong, confidence 0.45
    ];
    const actual = [0, 1, 0, 2];
    // bin 1: |0.5 − 0.425| · 2/4; bin 2: |0.5 − 0.75| · 2/4
    expect(expectedCalibrationError(probabilities, actual, 2)).toBeCloseTo(0.0375 + 0.125, 15);
    // A confidence on a bin edge belongs to the lower bin: (0, 0.5] here.
    expect(expectedCalibrationError([[0.5, 0.5]], [0], 2)).toBeCloseTo(0.5, 15);
    // One bin: |accuracy − mean confidence|.
    expect(expectedCalibrationError(probabilities, actual, 1)).toBeCloseTo(
      Math.abs(0.5 - (0.9 + 0.6 + 0.4 + 0.45) / 4),
      15,
    );
    // The default is 15 bins; a perfectly calibrated certain model has ECE 0.
    expect(
      expectedCalibrationError(
        [
          [1, 0],
          [0, 1],
        ],
        [0, 1],
      ),
    ).toBe(0);
  });

  test('agreement (fidelity) between two prediction arrays', () => {
    expect(predictionAgreement([0, 1, 2, 2], [0, 1, 1, 2])).toBe(0.75);
  });
});

describe('regression metrics', () => {
  test('RMSE, MAE and R²', () => {
    expect(rmse([1, 2, 3], [1, 2, 5])).toBeCloseTo(Math.sqrt(4 / 3), 15);
    expect(mae([1, 2, 3], [1, 2, 5])).toBeCloseTo(2 / 3, 15);
    expect(r2([1, 2, 3], [1, 2, 5])).toBeCloseTo(1 - 36 / 78, 15);
    expect(r2([4, 4], [4, 4])).toBe(1);
  });

  test('R² over several outputs centres each output on its own mean', () => {
    // rows [1, 10], [2, 20] against [1, 12], [3, 20]: SS_res = 5, SS_tot = 1 + 1 + 16 + 16
    expect(r2(Float64Array.of(1, 10, 2, 20), Float64Array.of(1, 12, 3, 20), 2)).toBeCloseTo(1 - 5 / 34, 15);
  });
});

describe('bad metric inputs', () => {
  test.each<[string, () => unknown, string]>([
    ['lengths differ', () => accuracy([1, 2], [1]), 'actual'],
    ['empty', () => rmse([], []), 'predicted'],
    ['class out of range', () => confusionMatrix([0, 1], [0, 5], 2), 'actual[1]'],
    ['negative class', () => negativeLogLikelihood([[0.5, 0.5]], [-1]), 'actual[0]'],
    ['non-integer class', () => topKAccuracy([[0.5, 0.5]], [0.5], 1), 'actual[0]'],
    ['k = 0', () => topKAccuracy([[0.5, 0.5]], [0], 0), 'k'],
    ['bins = 0', () => expectedCalibrationError([[0.5, 0.5]], [0], 0), 'bins'],
    ['outputs that do not divide', () => r2([1, 2, 3], [1, 2, 3], 2), 'outputs'],
  ])('%s', (_name, call, field) => {
    expect(call).toThrow(InputValidationError);
    try {
      call();
    } catch (error) {
      expect((error as InputValidationError).field).toBe(field);
    }
  });
});

test('percentile uses the nearest rank', () => {
  const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
  expect(percentile(sorted, 50)).toBe(50);
  expect(percentile(sorted, 99)).toBe(99);
  expect(percentile([3], 99)).toBe(3);
  expect(percentile([1, 2, 3], 0)).toBe(1);
  expect(percentile([], 50)).toBeNaN();
});
