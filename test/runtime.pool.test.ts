import type { Piscina } from 'piscina';
import type { PoolTask } from '../src/runtime/pool-worker';
import {
  InferenceError,
  InputValidationError,
  ModelLoadError,
  PredictionPool,
  OnnxModel,
  WorkerDiedError,
} from '../src/runtime';
import { expected, fixture } from './fixtures/expected';

/** The pool's piscina: a test reaches into it to kill a worker thread as a crash would. */
function piscinaOf(pool: PredictionPool): Piscina {
  return (pool as unknown as { piscina: Piscina }).piscina;
}

/**
 * The pool's next task is flagged `testExit` (a test-only PoolTask flag, honoured under jest):
 * the worker that receives it ends itself with process.exit(1) while it holds that task, as a crash would. (Killing
 * it from outside with worker_threads' terminate() is what the idle-worker test does; on a busy worker it can land
 * mid-run, and a worker ended while onnxruntime-node runs for it aborts the whole process.)
 */
function exitOnNextTask(piscina: Piscina): void {
  const run = piscina.run.bind(piscina);
  jest
    .spyOn(piscina, 'run')
    .mockImplementationOnce((task: PoolTask, options) => run({ ...task, testExit: true }, options));
}

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

describe('a worker thread that dies', () => {
  const samples = expected.iris.samples;

  test('its in-flight call fails with WorkerDiedError; the worker is replaced and the next calls succeed', async () => {
    const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 1 });
    const model = await OnnxModel.load(fixture('iris_student.onnx'));
    try {
      const piscina = piscinaOf(pool);
      const [original] = piscina.threads;
      exitOnNextTask(piscina);
      const error: unknown = await pool.predictBatch(samples).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(WorkerDiedError);
      expect(error).toMatchObject({ model: pool.info.name, detail: 'worker exited with code: 1' });
      // Replaced: one worker again, a new one, and it answers as before (its session loads on its first task).
      expect(piscina.threads).toHaveLength(1);
      expect(piscina.threads[0]).not.toBe(original);
      expect(await pool.predictBatch(samples)).toEqual(await model.predictBatch(samples));
    } finally {
      await pool.close();
      await model.close();
    }
  }, 30_000);

  test('an idle worker killed from outside (worker.terminate()) is replaced without a word', async () => {
    const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 2 });
    const single = await OnnxModel.load(fixture('iris_student.onnx'));
    try {
      const piscina = piscinaOf(pool);
      await piscina.threads[0]?.terminate();
      // What piscina emits when a worker throws outside any task: heard by the pool, not thrown at the process.
      expect(() => piscina.emit('error', new Error('uncaught in a worker'))).not.toThrow();
      expect(await Promise.all(samples.map((sample) => pool.predict(sample)))).toEqual(
        await single.predictBatch(samples),
      );
      expect(piscina.threads).toHaveLength(2);
    } finally {
      await pool.close();
      await single.close();
    }
  }, 30_000);

  test('a batcher on the pool fails the whole batch at once with WorkerDiedError (no row-by-row rerun)', async () => {
    const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 1 });
    try {
      const batcher = pool.batcher({ maxBatch: 64 });
      const runs = jest.spyOn(pool, 'predictBatch');
      exitOnNextTask(piscinaOf(pool));
      const results = await Promise.allSettled(samples.map((sample) => batcher.predict(sample)));
      expect(results.every((result) => result.status === 'rejected' && result.reason instanceof WorkerDiedError)).toBe(
        true,
      );
      expect(runs).toHaveBeenCalledTimes(1);
      await expect(batcher.predict(samples[0] as number[])).resolves.toMatchObject({ task: 'classification' });
      await batcher.close();
    } finally {
      await pool.close();
    }
  }, 30_000);
});
