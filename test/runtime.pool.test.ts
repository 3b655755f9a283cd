import { InferenceError, InputValidationError, ModelLoadError, PredictionPool, OnnxModel } from '../src/runtime';
import { expected, fixture } from './fixtures/expected';

describe('PredictionPool (real worker threads, one session each)', () => {
  let pool: PredictionPool;
  let model: OnnxModel;
  beforeAll(async () => {
    [pool, model] = await Promise.all([
      PredictionPool.create(fixture('iris_student.onnx'), { workers: 2 }),
      OnnxModel.load(fixture('iris_student.onnx')),
    ]);
  });
  afterAll(async () => {
    await pool.close();
    await model.close();
  });

  test('has the same info as a single model', () => {
    expect(pool.info).toEqual(model.info);
  });

  test('predict and predictBatch return exactly what OnnxModel returns', async () => {
    const samples = expected.iris.samples;
    const single = await model.predictBatch(samples);
    expect(await pool.predictBatch(samples)).toEqual(single);
    expect(await pool.predictBatch(Float32Array.from(samples.flat()))).toEqual(single);
    expect(await Promise.all(samples.map((sample) => pool.predict(sample)))).toEqual(single);
  });

  test('many concurrent calls are spread over the workers and all come back right', async () => {
    const samples = Array.from({ length: 40 }, (_, i) => expected.iris.samples[i % expected.iris.samples.length] ?? []);
    const [fromPool, fromModel] = await Promise.all([
      Promise.all(samples.map((sample) => pool.predictBatch([sample, sample]))),
      Promise.all(samples.map((sample) => model.predictBatch([sample, sample]))),
    ]);
    expect(fromPool).toEqual(fromModel);
  });

  test('bad input is rejected in the main thread with the same typed error', async () => {
    await expect(pool.predict([1, 2, NaN, 4])).rejects.toMatchObject({
      name: 'InputValidationError',
      field: 'sample[2]',
    });
    await expect(pool.predictBatch([])).rejects.toBeInstanceOf(InputValidationError);
  });
});

describe('PredictionPool with a foreign fixed-batch model', () => {
  test('chunks of 1 in the worker give the single-session answers', async () => {
    const options = { normalization: { mean: expected.foreign.mean, std: expected.foreign.std } };
    const pool = await PredictionPool.create(fixture('foreign_cnn.onnx'), { ...options, workers: 1 });
    const model = await OnnxModel.load(fixture('foreign_cnn.onnx'), options);
    try {
      const batch = expected.foreign.samples.map((sample) => Uint8Array.from(sample));
      expect(await pool.predictBatch(batch)).toEqual(await model.predictBatch(batch));
    } finally {
      await pool.close();
      await model.close();
    }
  });

  test('the event loop keeps turning while a worker runs a long batch', async () => {
    const pool = await PredictionPool.create(fixture('foreign_cnn.onnx'), { workers: 1 });
    try {
      let turns = 0;
      let running = true;
      const spin = (): void => {
        turns += 1;
        if (running) setImmediate(spin);
      };
      setImmediate(spin);
      // Row by row (the model's batch is fixed to 1): thousands of runs, all in the
      // worker, which takes long enough for the main thread's loop to turn many times.
      // (~80 ms and ~20 000 turns on a 2-core machine.)
      const predictions = await pool.predictBatch(new Uint8Array(4000 * 64).fill(7));
      running = false;
      expect(predictions).toHaveLength(4000);
      expect(turns).toBeGreaterThan(5);
    } finally {
      await pool.close();
    }
  });
});

describe('PredictionPool errors', () => {
  test('a file that is not ONNX fails before any worker starts', async () => {
    await expect(PredictionPool.create(fixture('truncated.onnx'), { workers: 1 })).rejects.toMatchObject({
      name: 'ModelLoadError',
      reason: 'not-onnx',
    });
  });

  test('a model onnxruntime refuses fails at create, as a ModelLoadError naming the file', async () => {
    const file = fixture('unrunnable.onnx');
    const error: unknown = await PredictionPool.create(file, { workers: 1 }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error).toMatchObject({ file, reason: 'session-failed' });
    expect(String(error)).toMatch(/NoSuchOperator/);
  });

  test('a closed pool rejects new work', async () => {
    const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 1 });
    await pool.close();
    await pool.close(); // idempotent
    await expect(pool.predict([5, 3, 4, 1])).rejects.toBeInstanceOf(InferenceError);
  });
});
