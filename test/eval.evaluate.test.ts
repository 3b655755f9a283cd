import {
  agreement,
  benchmark,
  evaluate,
  loadDataset,
  type ClassificationReport,
  type EvaluationReport,
  type RegressionReport,
} from '../src/eval';
import { InputValidationError, PredictionPool, OnnxModel } from '../src/runtime';
import { expected, fixture } from './fixtures/expected';

function classification(report: EvaluationReport): ClassificationReport {
  if (report.task !== 'classification') throw new Error('expected a classification report');
  return report;
}

function regression(report: EvaluationReport): RegressionReport {
  if (report.task !== 'regression') throw new Error('expected a regression report');
  return report;
}

describe('evaluate, against numbers computed by onnxruntime-python and numpy', () => {
  let student: OnnxModel;
  let teacher: OnnxModel;
  beforeAll(async () => {
    [student, teacher] = await Promise.all([
      OnnxModel.load(fixture('iris_student.onnx')),
      OnnxModel.load(fixture('iris_teacher.onnx')),
    ]);
  });
  afterAll(async () => {
    await student.close();
    await teacher.close();
  });

  test.each([
    ['student', 'iris.npz'],
    ['teacher', 'iris_deflated.npz'],
  ] as const)('%s on %s, in batches of 7', async (which, file) => {
    const model = which === 'student' ? student : teacher;
    const want = expected.iris[which];
    const report = classification(await evaluate(model, fixture(file), { batchSize: 7, topK: 2 }));
    expect(report).toMatchObject({
      model: model.info.name,
      samples: 30,
      errors: want.errors,
      confusion: want.confusion,
      eceBins: 15,
      topK: { k: 2 },
    });
    expect(report.accuracy).toBeCloseTo(want.accuracy, 12);
    expect(report.topK.accuracy).toBeCloseTo(want.top2Accuracy, 12);
    expect(Math.abs(report.nll - want.nll)).toBeLessThan(1e-5);
    expect(Math.abs(report.ece - want.ece)).toBeLessThan(1e-5);
    expect(report.perClass.map((metrics) => metrics.label)).toEqual(['setosa', 'versicolor', 'virginica']);
    expect(report.perClass.map((metrics) => metrics.support)).toEqual(
      want.confusion.map((row) => row.reduce((a, b) => a + b, 0)),
    );
  });

  test('the batch size does not change the report; top-k is capped at the class count', async () => {
    const whole = await evaluate(student, fixture('iris.npz'), { batchSize: 1024 });
    const small = await evaluate(student, fixture('iris.npz'), { batchSize: 4 });
    expect(small).toEqual(whole);
    expect(classification(whole).topK).toEqual({ k: 3, accuracy: 1 });
  });

  test('in-memory typed arrays work like a file', async () => {
    const data = await loadDataset(fixture('iris.npz'));
    const fromMemory = await evaluate(student, { x: data.x, y: data.y, sampleShape: [4] });
    expect(fromMemory).toEqual(await evaluate(student, fixture('iris.npz')));
  });

  test('agreement between student and teacher', async () => {
    const report = await agreement(student, teacher, fixture('iris.npz'), { batchSize: 8 });
    expect(report).toMatchObject({ student: 'soft-t20', teacher: 'teacher', samples: 30 });
    expect(report.agreement).toBeCloseTo(expected.iris.agreement, 12);
    expect(report.disagreements).toBe(Math.round((1 - expected.iris.agreement) * 30));
    // Agreement needs no labels: x alone will do.
    expect(await agreement(student, teacher, fixture('iris_x.npy'))).toEqual(report);
  });

  test('a pool gives the same report as a single model', async () => {
    const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 2 });
    try {
      expect(await evaluate(pool, fixture('iris.npz'), { batchSize: 5 })).toEqual(
        await evaluate(student, fixture('iris.npz'), { batchSize: 5 }),
      );
    } finally {
      await pool.close();
    }
  });

  test('clear errors for datasets that do not fit', async () => {
    await expect(evaluate(student, fixture('iris_x.npy'))).rejects.toMatchObject({
      name: 'InputValidationError',
      field: 'dataset.y',
    });
    await expect(evaluate(student, fixture('regression.npz'))).rejects.toMatchObject({ field: 'dataset.y' });
    await expect(evaluate(student, fixture('digits_u8.npz'))).rejects.toThrow(
      /dataset.x: expected samples of 4 values for model soft-t20/,
    );
    await expect(evaluate(student, fixture('iris.npz'), { batchSize: 0 })).rejects.toBeInstanceOf(InputValidationError);
    await expect(
      evaluate(student, { x: new Float32Array(8), y: Float32Array.of(0, 1.5), sampleShape: [4] }),
    ).rejects.toMatchObject({ field: 'dataset.y[1]' });
  });
});

test('a foreign probability model evaluated on uint8 images with caller-supplied normalisation', async () => {
  const model = await OnnxModel.load(fixture('foreign_cnn.onnx'), {
    normalization: { mean: expected.foreign.mean, std: expected.foreign.std },
  });
  try {
    const want = expected.foreign.report;
    const report = classification(await evaluate(model, fixture('digits_u8.npz'), { topK: 2 }));
    expect(report).toMatchObject({ samples: 6, errors: want.errors, confusion: want.confusion });
    expect(report.perClass.map((metrics) => metrics.label)).toEqual(['0', '1', '2', '3']);
    expect(Math.abs(report.nll - want.nll)).toBeLessThan(1e-5);
    expect(Math.abs(report.ece - want.ece)).toBeLessThan(1e-5);
    expect(report.topK.accuracy).toBeCloseTo(want.top2Accuracy, 12);
  } finally {
    await model.close();
  }
});

test('a regression model: RMSE, MAE and R² match numpy', async () => {
  const model = await OnnxModel.load(fixture('regressor.onnx'));
  try {
    const report = regression(await evaluate(model, fixture('regression.npz'), { batchSize: 3 }));
    expect(report).toMatchObject({ model: 'regressor', samples: 8, outputs: 2 });
    expect(Math.abs(report.rmse - expected.regression.report.rmse)).toBeLessThan(1e-5);
    expect(Math.abs(report.mae - expected.regression.report.mae)).toBeLessThan(1e-5);
    expect(Math.abs(report.r2 - expected.regression.report.r2)).toBeLessThan(1e-5);
    await expect(agreement(model, model, fixture('regression.npz'))).rejects.toMatchObject({ field: 'student' });
  } finally {
    await model.close();
  }
});

describe('benchmark', () => {
  test('latency percentiles and throughput per batch size', async () => {
    const model = await OnnxModel.load(fixture('iris_student.onnx'));
    try {
      const report = await benchmark(model, { batchSizes: [1, 16], warmup: 2, iterations: 30, minTimeMs: 10 });
      expect(report.model).toBe('soft-t20');
      expect(report.latency.runs).toBe(30);
      expect(report.latency.p50Ms).toBeGreaterThan(0);
      expect(report.latency.p99Ms).toBeGreaterThanOrEqual(report.latency.p50Ms);
      expect(report.throughput.map((result) => result.batchSize)).toEqual([1, 16]);
      for (const result of report.throughput) {
        expect(result.runs).toBeGreaterThanOrEqual(3);
        expect(result.rowsPerSecond).toBeCloseTo((result.batchSize * 1000) / result.msPerBatch, 6);
      }
    } finally {
      await model.close();
    }
  });

  test('works on a fixed-batch model and rejects bad options', async () => {
    const model = await OnnxModel.load(fixture('foreign_cnn.onnx'));
    try {
      const report = await benchmark(model, { batchSizes: [4], warmup: 0, iterations: 3, minTimeMs: 0 });
      expect(report.throughput[0]?.batchSize).toBe(4);
      await expect(benchmark(model, { batchSizes: [] })).rejects.toMatchObject({ field: 'options.batchSizes' });
      await expect(benchmark(model, { batchSizes: [0] })).rejects.toMatchObject({ field: 'options.batchSizes[0]' });
      await expect(benchmark(model, { iterations: 0 })).rejects.toMatchObject({ field: 'options.iterations' });
    } finally {
      await model.close();
    }
  });
});
