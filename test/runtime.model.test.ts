import {
  InputValidationError,
  ModelLoadError,
  OnnxModel,
  PredictionPool,
  type ClassPrediction,
  type Prediction,
} from '../src/runtime';
import { expectClose, expected, fixture } from './fixtures/expected';

function asClass(prediction: Prediction | undefined): ClassPrediction {
  if (prediction?.task !== 'classification') throw new Error('expected a classification prediction');
  return prediction;
}

describe('OnnxModel on a Distillery export', () => {
  let student: OnnxModel;
  beforeAll(async () => {
    student = await OnnxModel.load(fixture('iris_student.onnx'));
  });
  afterAll(() => student.close());

  test('reads every distillery.* metadata field', () => {
    const { info } = student;
    expect(info).toMatchObject({
      name: 'soft-t20',
      role: 'student',
      task: 'classification',
      version: '0.1.0',
      input: { name: 'input', shape: [4], dtype: 'float32' },
      output: { name: 'logits', kind: 'logits', size: 3 },
      normalization: { mean: [5.8, 3.0, 3.7, 1.2], std: [0.8, 0.4, 1.7, 0.7] },
      labels: ['setosa', 'versicolor', 'virginica'],
      model: { type: 'mlp', hidden: [8] },
      method: { type: 'soft-targets', temperature: 20, alpha: 0.9 },
      teacher: { name: 'teacher', sha256: expected.iris.teacherSha256 },
      training: { epochs: 3, optimizer: 'adam', learningRate: 0.05 },
      metrics: { trainAccuracy: 0.9, validationAccuracy: 0.85 },
      params: expected.iris.studentParams,
      flopsPerSample: 112,
      fixedBatchSize: null,
      unknown: [],
    });
    expect(info.file).toBe(fixture('iris_student.onnx'));
  });

  test('null metadata values stay null (a teacher has no method or teacher)', async () => {
    const teacher = await OnnxModel.load(fixture('iris_teacher.onnx'));
    try {
      expect(teacher.info).toMatchObject({ role: 'teacher', method: null, teacher: null, unknown: [] });
    } finally {
      await teacher.close();
    }
  });

  test('predict normalises raw input and matches onnxruntime-python (logits and float64 softmax)', async () => {
    for (const [i, sample] of expected.iris.samples.entries()) {
      const prediction = asClass(await student.predict(sample));
      expectClose(prediction.logits ?? [], expected.iris.studentLogits[i] ?? []);
      expectClose(prediction.probabilities, expected.iris.studentProbabilities[i] ?? []);
      expect(prediction.index).toBe(expected.iris.student.predicted[i]);
      expect(prediction.label).toBe(student.info.labels?.[prediction.index]);
    }
  });

  test('predictBatch equals predict, whatever form the samples take', async () => {
    const samples = expected.iris.samples;
    const one = await Promise.all(samples.map((sample) => student.predict(sample)));
    const flat = Float32Array.from(samples.flat());
    expect(await student.predictBatch(samples)).toEqual(one);
    expect(await student.predictBatch(samples.map((sample) => Float32Array.from(sample)))).toEqual(one);
    expect(await student.predictBatch(flat)).toEqual(one);
    expect(await student.predictBatch(Float64Array.from(flat))).toEqual(one);
  });

  test('probabilities sum to 1', async () => {
    const prediction = asClass(await student.predict([100, -100, 1e6, 3]));
    expect(prediction.probabilities.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(prediction.probabilities.every(Number.isFinite)).toBe(true);
  });
});

describe('regression models', () => {
  test('predict returns values; nested [C, L] samples with per-channel normalisation match Python', async () => {
    const model = await OnnxModel.load(fixture('regressor.onnx'));
    try {
      expect(model.info).toMatchObject({
        task: 'regression',
        output: { kind: 'values', size: 2 },
        labels: ['price', 'area'],
        input: { shape: [2, 3] },
      });
      const batch = await model.predictBatch(expected.regression.samples);
      batch.forEach((prediction, i) => {
        if (prediction.task !== 'regression') throw new Error('expected regression');
        expectClose(prediction.values, expected.regression.values[i] ?? []);
      });
      const first = expected.regression.samples[0] ?? [];
      expect(await model.predict(first)).toEqual(batch[0]);
      expect(await model.predict(first.flat())).toEqual(batch[0]);
    } finally {
      await model.close();
    }
  });
});

describe('a foreign model (no metadata, NCHW input named "image", fixed batch 1, softmax output)', () => {
  test('what the graph tells is derived, the rest is listed as unknown', async () => {
    const model = await OnnxModel.load(fixture('foreign_cnn.onnx'));
    try {
      expect(model.info).toMatchObject({
        name: 'foreign_cnn',
        role: null,
        task: 'classification',
        input: { name: 'image', shape: [1, 8, 8] },
        output: { name: 'probs', kind: 'probabilities', size: 4 },
        normalization: null,
        labels: null,
        fixedBatchSize: 1,
        params: expected.foreign.params,
        flopsPerSample: null,
      });
      expect([...model.info.unknown].sort()).toEqual(
        [
          'flopsPerSample',
          'input.shape',
          'labels',
          'method',
          'metrics',
          'model',
          'name',
          'normalization',
          'role',
          'teacher',
          'training',
          'version',
        ].sort(),
      );
    } finally {
      await model.close();
    }
  });

  test('options supply normalisation and labels; a batch runs row by row and matches Python', async () => {
    const labels = ['zero', 'one', 'two', 'three'];
    const model = await OnnxModel.load(fixture('foreign_cnn.onnx'), {
      normalization: { mean: expected.foreign.mean, std: expected.foreign.std },
      labels,
      inputName: 'image',
      outputName: 'probs',
      outputKind: 'probabilities',
      sampleShape: [1, 8, 8],
    });
    try {
      expect(model.info.unknown).not.toContain('normalization');
      expect(model.info.unknown).not.toContain('labels');
      const batch = (await model.predictBatch(expected.foreign.samples.map((sample) => Uint8Array.from(sample)))).map(
        asClass,
      );
      batch.forEach((prediction, i) => {
        expect(prediction.logits).toBeNull();
        expectClose(prediction.probabilities, expected.foreign.probabilities[i] ?? []);
        expect(prediction.label).toBe(labels[expected.foreign.report.predicted[i] ?? -1]);
      });
      // Nested to the [1, 8, 8] sample shape, one at a time: the same answers.
      const nested = (expected.foreign.samples[2] ?? []).reduce<number[][]>((rows, value, i) => {
        if (i % 8 === 0) rows.push([]);
        rows[rows.length - 1]?.push(value);
        return rows;
      }, []);
      expect(await model.predict([nested])).toEqual(batch[2]);
    } finally {
      await model.close();
    }
  });

  test('outputKind "values" turns the model into a regression model', async () => {
    const model = await OnnxModel.load(fixture('foreign_cnn.onnx'), { outputKind: 'values' });
    try {
      expect(model.info.task).toBe('regression');
      const prediction = await model.predict(new Float32Array(64));
      expect(prediction.task).toBe('regression');
    } finally {
      await model.close();
    }
  });
});

describe('load errors name the file', () => {
  test.each([
    ['missing.onnx', 'not-found'],
    ['truncated.onnx', 'not-onnx'],
    ['not_onnx.onnx', 'not-onnx'],
    ['iris.npz', 'not-onnx'],
    ['unrunnable.onnx', 'session-failed'],
  ])('%s → %s', async (name, reason) => {
    const file = fixture(name);
    const error: unknown = await OnnxModel.load(file).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error).toMatchObject({ file, reason });
    expect((error as Error).message).toContain(file);
  });

  test('a bad option is named before the file is read, in OnnxModel and in the pool', async () => {
    const missing = fixture('no-such-model.onnx');
    const named = { name: 'InputValidationError', field: 'options.threads' };
    await expect(OnnxModel.load(missing, { threads: 0 })).rejects.toMatchObject(named);
    await expect(PredictionPool.create(missing, { threads: 0 })).rejects.toMatchObject(named);
  });

  test('options that do not fit the graph are rejected', async () => {
    const file = fixture('iris_student.onnx');
    await expect(OnnxModel.load(file, { inputName: 'pixels' })).rejects.toThrow(
      /no input named pixels \(it has: input\)/,
    );
    await expect(OnnxModel.load(file, { labels: ['a', 'b'] })).rejects.toMatchObject({ field: 'options.labels' });
    await expect(OnnxModel.load(file, { normalization: { mean: [1, 2], std: [1, 1, 1] } })).rejects.toMatchObject({
      field: 'options.normalization',
    });
    await expect(OnnxModel.load(file, { sampleShape: [5] })).rejects.toThrow(
      /sample shape \[5\] does not fit input input \[\?, 4\]/,
    );
    await expect(OnnxModel.load(file, { outputKind: 'softmax' as never })).rejects.toBeInstanceOf(InputValidationError);
  });
});

describe('bad inputs are rejected with the field and what was expected', () => {
  let student: OnnxModel;
  let cnn: OnnxModel;
  beforeAll(async () => {
    student = await OnnxModel.load(fixture('iris_student.onnx'));
    cnn = await OnnxModel.load(fixture('foreign_cnn.onnx'));
  });
  afterAll(async () => {
    await student.close();
    await cnn.close();
  });

  async function rejection(promise: Promise<unknown>): Promise<InputValidationError> {
    const error: unknown = await promise.then(
      () => null,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(InputValidationError);
    return error as InputValidationError;
  }

  test.each<[string, () => Promise<unknown>, string, RegExp]>([
    ['too short', () => student.predict([1, 2, 3]), 'sample', /exactly 4 numbers.*received an array of length 3/],
    ['NaN (says which index)', () => student.predict([1, NaN, 3, 4]), 'sample[1]', /finite number, received NaN/],
    [
      'Infinity in a typed array',
      () => student.predict(Float32Array.of(1, 2, Infinity, 4)),
      'sample[2]',
      /received Infinity/,
    ],
    ['wrong type', () => student.predict('1,2,3,4'), 'sample', /received string/],
    [
      'a string inside',
      () => student.predict([1, 2, '3', 4] as never),
      'sample[2]',
      /finite number, received string "3"/,
    ],
    [
      'typed array of wrong length',
      () => student.predict(new Float32Array(5)),
      'sample',
      /received a Float32Array of length 5/,
    ],
    ['empty batch', () => student.predictBatch([]), 'samples', /at least one sample, received an empty batch/],
    ['empty typed batch', () => student.predictBatch(new Float32Array(0)), 'samples', /at least one sample/],
    ['flat batch not a multiple', () => student.predictBatch(new Float32Array(6)), 'samples', /a multiple of 4 values/],
    [
      'one bad row in a batch',
      () =>
        student.predictBatch([
          [1, 2, 3, 4],
          [1, 2, 3],
        ]),
      'samples[1]',
      /exactly 4 numbers/,
    ],
    [
      'NaN deep in a batch',
      () =>
        student.predictBatch([
          [1, 2, 3, 4],
          [1, 2, 3, NaN],
        ]),
      'samples[1][3]',
      /NaN/,
    ],
    ['a sample instead of a batch', () => student.predictBatch([1, 2, 3, 4] as never), 'samples[0]', /received 1/],
    [
      'nested shape wrong at depth 2',
      () => cnn.predict([[Array(8).fill(0), Array(7).fill(0)]]),
      'sample[0]',
      /exactly 8 arrays/,
    ],
    [
      'nested row too short',
      () => cnn.predict([Array.from({ length: 8 }, (_, i) => Array(i === 5 ? 7 : 8).fill(0))]),
      'sample[0][5]',
      /exactly 8 numbers, received an array of length 7/,
    ],
    ['flat sample of the wrong size', () => cnn.predict(Array(63).fill(0)), 'sample', /exactly 64 numbers/],
  ])('%s', async (_name, call, field, message) => {
    const error = await rejection(call());
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
    expect(error.message.startsWith(`${field}: expected `)).toBe(true);
  });
});
