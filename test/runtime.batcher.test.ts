/**
 * Dynamic batching (issue 29): a Batcher on a real model coalesces concurrent calls into predictBatch runs (counted
 * by spying on predictBatch), answers each caller with its own prediction, keeps to maxBatch, maxDelayMs and
 * maxQueue, fails a bad row alone, and drains on close. Table rows and encoded images run on fixture models given a
 * `distillery.preprocess` here (no Python: the text models of runtime.text.test are built by torch, so text is left
 * to that test's path, which checkedInput shares with predict).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { onnx } from 'onnx-proto';
import sharp from 'sharp';
import {
  Batcher,
  BatcherClosedError,
  BatcherOptionError,
  InferenceError,
  InputValidationError,
  OnnxModel,
  PredictionPool,
  QueueFullError,
  type BatchTarget,
  type ModelInput,
  type Prediction,
} from '../src/runtime';
import { expected, fixture } from './fixtures/expected';
import { closeIfOpened } from './support/hooks';
import { ROOT, tempDir } from './support/tiny';

const MNIST = path.join(ROOT, 'models', 'mnist-student.onnx');
const IRIS_COLUMNS = ['sepal_length', 'sepal_width', 'petal_length', 'petal_width'];

/** A copy of `source` with one more `distillery.*` metadata entry, so a fixture model takes rows or images. */
function withMetadata(source: string, key: string, value: unknown, dir: string): string {
  const model = onnx.ModelProto.decode(fs.readFileSync(source));
  model.metadataProps = model.metadataProps.filter((entry) => entry.key !== key);
  model.metadataProps.push(onnx.StringStringEntryProto.create({ key, value: JSON.stringify(value) }));
  const file = path.join(dir, `${key}-${path.basename(source)}`);
  fs.writeFileSync(file, onnx.ModelProto.encode(model).finish());
  return file;
}

/** A promise opened by hand: a target that holds its runs until the test lets them go. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { opened, open };
}

/** `count` iris samples, the fixture's five over and over. */
function irisSamples(count: number): number[][] {
  const { samples } = expected.iris;
  return Array.from({ length: count }, (_, index) => samples[index % samples.length] as number[]);
}

function digit(seed: number): Float32Array {
  return Float32Array.from({ length: 784 }, (_, index) => (index * 31 + seed * 17) % 256);
}

let dir: string;
let iris: OnnxModel;
let mnist: OnnxModel;
let table: OnnxModel;
let images: OnnxModel;

beforeAll(async () => {
  dir = tempDir('runtime-batcher');
  iris = await OnnxModel.load(fixture('iris_student.onnx'), { threads: 1 });
  mnist = await OnnxModel.load(MNIST, { threads: 1 });
  const tableSpec = {
    kind: 'table',
    columns: IRIS_COLUMNS.map((name) => ({ name, type: 'numeric', fill: 0 })),
    targets: ['species'],
  };
  table = await OnnxModel.load(withMetadata(fixture('iris_student.onnx'), 'distillery.preprocess', tableSpec, dir), {
    threads: 1,
  });
  const imageSpec = { kind: 'image', size: [28, 28], channels: 1, fit: 'fill' };
  images = await OnnxModel.load(withMetadata(MNIST, 'distillery.preprocess', imageSpec, dir), { threads: 1 });
});

afterAll(async () => {
  for (const model of [iris, mnist, table, images]) await closeIfOpened(model);
  fs.rmSync(dir, { recursive: true, force: true });
});

afterEach(() => jest.restoreAllMocks());

/** Each input through model.predict, one by one: what every batcher caller must get. */
async function alone(model: OnnxModel, inputs: readonly ModelInput[]): Promise<Prediction[]> {
  const predictions: Prediction[] = [];
  for (const input of inputs) predictions.push(await model.predict(input));
  return predictions;
}

describe('coalescing', () => {
  test('concurrent calls share one run, and each caller gets its own prediction', async () => {
    const runs = jest.spyOn(mnist, 'predictBatch');
    const inputs = Array.from({ length: 10 }, (_, seed) => digit(seed));
    const batcher = mnist.batcher({ maxBatch: 64, maxDelayMs: 5 });
    const predictions = await Promise.all(inputs.map((input) => batcher.predict(input)));
    expect(runs).toHaveBeenCalledTimes(1);
    expect((runs.mock.calls[0]?.[0] as ModelInput[]).length).toBe(10);
    runs.mockRestore();
    expect(predictions).toEqual(await mnist.predictBatch(inputs));
    // Exactly predict's, row for row: one session, one thread, the same kernels whatever the batch size.
    expect(predictions).toEqual(await alone(mnist, inputs));
    await batcher.close();
  });

  test('nested arrays and iris samples give what predict gives', async () => {
    const batcher = iris.batcher({ maxDelayMs: 1 });
    const samples = expected.iris.samples.slice(0, 8);
    const predictions = await Promise.all(samples.map((sample) => batcher.predict(sample)));
    expect(predictions).toEqual(await iris.predictBatch(samples));
    predictions.forEach((prediction, index) =>
      expectCloseTo(logits(prediction), expected.iris.studentLogits[index] as number[]),
    );
    expect(predictions).toEqual(await alone(iris, samples));
    await batcher.close();
  });

  test('batches hold at most maxBatch rows', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = iris.batcher({ maxBatch: 4, maxDelayMs: 1000, maxQueue: 16, concurrency: 3 });
    const sizes: number[] = [];
    batcher.onBatch((rows) => sizes.push(rows));
    const stop = batcher.onBatch(() => {
      throw new Error('a listener that fails never fails a batch');
    });
    const samples = irisSamples(10);
    const started = performance.now();
    const answers = samples.map((sample) => batcher.predict(sample));
    await batcher.close(); // runs the last 2 at once rather than after 1000 ms
    await Promise.all(answers);
    expect(performance.now() - started).toBeLessThan(900);
    expect(runs.mock.calls.map(([inputs]) => (inputs as ModelInput[]).length)).toEqual([4, 4, 2]);
    expect(sizes).toEqual([4, 4, 2]); // onBatch sees each run's rows, as serve's batch-size histogram does
    stop(); // (removing a listener: the next batches would not call it)
  });

  test('a full batch runs at once, without waiting out maxDelayMs', async () => {
    const batcher = iris.batcher({ maxBatch: 3, maxDelayMs: 60_000 });
    const samples = expected.iris.samples.slice(0, 3);
    const started = performance.now();
    await Promise.all(samples.map((sample) => batcher.predict(sample)));
    expect(performance.now() - started).toBeLessThan(1000);
    await batcher.close();
  });

  test('waitWhenIdle: a lone call is answered about maxDelayMs after it was made, not later', async () => {
    const batcher = iris.batcher({ maxBatch: 64, maxDelayMs: 40, waitWhenIdle: true });
    await batcher.predict(expected.iris.samples[0] as number[]); // warm-up: the first run allocates
    const started = performance.now();
    await batcher.predict(expected.iris.samples[1] as number[]);
    const elapsed = performance.now() - started;
    expect(elapsed).toBeGreaterThanOrEqual(39);
    expect(elapsed).toBeLessThan(40 + 150); // a run of one iris row takes well under a millisecond
    await batcher.close();
  });

  test('a lone call on an idle batcher runs at once: it does not wait out maxDelayMs', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = iris.batcher({ maxBatch: 64, maxDelayMs: 10_000 });
    const started = performance.now();
    for (const sample of expected.iris.samples.slice(0, 3)) await batcher.predict(sample); // one client, in turn
    expect(performance.now() - started).toBeLessThan(2000); // ~1 ms each; the delay would be 30 s
    expect(runs.mock.calls.map(([inputs]) => (inputs as ModelInput[]).length)).toEqual([1, 1, 1]);
    await batcher.close();
  });

  test('the calls made in the same tick on an idle batcher still share its run', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = iris.batcher({ maxBatch: 64, maxDelayMs: 10_000 });
    const samples = expected.iris.samples.slice(0, 5);
    expect(await Promise.all(samples.map((sample) => batcher.predict(sample)))).toEqual(
      await iris.predictBatch(samples),
    );
    expect(runs.mock.calls[0]?.[0]).toHaveLength(5);
    await batcher.close();
  });

  test('calls that arrive while a run is in flight share the next batch, sent as that run ends', async () => {
    const { opened, open } = gate();
    const sizes: number[] = [];
    const target: BatchTarget = {
      info: iris.info,
      predictBatch: async (inputs) => {
        sizes.push(inputs.length);
        if (sizes.length === 1) await opened; // the first run is held until the others have arrived
        return iris.predictBatch(inputs);
      },
    };
    const batcher = new Batcher(target, { maxBatch: 64, maxDelayMs: 10_000 });
    const samples = irisSamples(7);
    const started = performance.now();
    const first = batcher.predict(samples[0] as number[]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    const rest: Promise<Prediction>[] = [];
    for (const sample of samples.slice(1)) {
      rest.push(batcher.predict(sample)); // one by one, each in its own macrotask, as HTTP requests arrive
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(sizes).toEqual([1]);
    expect(batcher.queued).toBe(6);
    open();
    expect(await Promise.all([first, ...rest])).toEqual(await iris.predictBatch(samples));
    expect(sizes).toEqual([1, 6]);
    expect(performance.now() - started).toBeLessThan(2000); // not the 10 s delay
    await batcher.close();
  });

  test('a call checked slowly (an image decoding) is waited for: the calls of one request share a run', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const slow = gate();
    const check = (input: ModelInput): ModelInput | Promise<ModelInput> =>
      input === 'slow' ? slow.opened.then(() => expected.iris.samples[0] as number[]) : input;
    const batcher = new Batcher(iris, { maxBatch: 64, maxDelayMs: 10_000 }, check);
    const answers = [batcher.predict(expected.iris.samples[1] as number[]), batcher.predict('slow')];
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(runs).not.toHaveBeenCalled();
    slow.open();
    await Promise.all(answers);
    expect(runs).toHaveBeenCalledTimes(1);
    expect(runs.mock.calls[0]?.[0]).toHaveLength(2);
    await batcher.close();
  });

  test('a slow check that fails lets the calls waiting for it run at once', async () => {
    const slow = gate();
    const check = (input: ModelInput): ModelInput | Promise<ModelInput> =>
      input === 'bad'
        ? slow.opened.then(() => Promise.reject(new InputValidationError('sample', 'numbers', 'text')))
        : input;
    const batcher = new Batcher(iris, { maxBatch: 64, maxDelayMs: 10_000 }, check);
    const started = performance.now();
    const good = batcher.predict(expected.iris.samples[1] as number[]);
    const bad = batcher.predict('bad');
    slow.open();
    await expect(bad).rejects.toBeInstanceOf(InputValidationError);
    await expect(good).resolves.toMatchObject({ task: 'classification' });
    expect(performance.now() - started).toBeLessThan(2000);
    await batcher.close();
  });

  test('maxDelayMs 0 still gathers the calls made in the same tick', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = iris.batcher({ maxDelayMs: 0 });
    await Promise.all(expected.iris.samples.slice(0, 5).map((sample) => batcher.predict(sample)));
    expect(runs).toHaveBeenCalledTimes(1);
    await batcher.close();
  });
});

describe('bad rows', () => {
  test('a bad row among good ones fails alone, with InputValidationError, before it joins the batch', async () => {
    const runs = jest.spyOn(mnist, 'predictBatch');
    const batcher = mnist.batcher({ maxDelayMs: 5 });
    const nan = digit(3);
    nan[100] = Number.NaN;
    const inputs: ModelInput[] = [digit(1), nan, digit(2), new Float32Array(5), 'a text', digit(4)];
    const settled = await Promise.allSettled(inputs.map((input) => batcher.predict(input)));
    expect(settled.map((result) => result.status)).toEqual([
      'fulfilled',
      'rejected',
      'fulfilled',
      'rejected',
      'rejected',
      'fulfilled',
    ]);
    for (const index of [1, 3, 4]) {
      const reason = (settled[index] as PromiseRejectedResult).reason as unknown;
      expect(reason).toBeInstanceOf(InputValidationError);
      // The very error predict gives for the same input.
      await expect(mnist.predict(inputs[index] as ModelInput)).rejects.toThrow((reason as Error).message);
    }
    expect((runs.mock.calls[0]?.[0] as ModelInput[]).length).toBe(3);
    expect(runs).toHaveBeenCalledTimes(1);
    await batcher.close();
  });

  test('a batch whose run fails runs again row by row, and only the failing row fails', async () => {
    // No input check: the bad row reaches the batch, whose run fails; the retry sorts it out.
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = new Batcher(iris, { maxDelayMs: 5 });
    const inputs: ModelInput[] = [
      [5.1, 3.5, 1.4, 0.2],
      [1, 2, 3],
      [6.7, 3.0, 5.2, 2.3],
    ];
    const settled = await Promise.allSettled(inputs.map((input) => batcher.predict(input)));
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((settled[1] as PromiseRejectedResult).reason).toBeInstanceOf(InputValidationError);
    expect(runs).toHaveBeenCalledTimes(1 + inputs.length);
    runs.mockRestore();
    expect((settled[2] as PromiseFulfilledResult<Prediction>).value).toEqual(await iris.predict(inputs[2] as number[]));
    await batcher.close();
  });
});

test('a target that answers too few rows fails its callers with InferenceError, never leaves them undefined', async () => {
  const batcher = new Batcher({ info: iris.info, predictBatch: () => Promise.resolve([]) }, { maxDelayMs: 1 });
  const settled = await Promise.allSettled(irisSamples(2).map((sample) => batcher.predict(sample)));
  for (const result of settled) expect((result as PromiseRejectedResult).reason).toBeInstanceOf(InferenceError);
  await batcher.close();
});

describe('input kinds', () => {
  test('table rows: encoded on their own, predicted together; a bad cell fails only its row', async () => {
    const runs = jest.spyOn(table, 'predictBatch');
    const batcher = table.batcher({ maxDelayMs: 5 });
    const rows = expected.iris.samples
      .slice(0, 4)
      .map((sample) => Object.fromEntries(IRIS_COLUMNS.map((name, index) => [name, sample[index] as number])));
    const bad = { ...rows[0], petal_width: 'wide' };
    const settled = await Promise.allSettled([...rows, bad].map((row) => batcher.predict(row)));
    expect(settled.map((result) => result.status)).toEqual([...rows.map(() => 'fulfilled'), 'rejected']);
    expect((settled[4] as PromiseRejectedResult).reason).toBeInstanceOf(InputValidationError);
    expect(runs).toHaveBeenCalledTimes(1);
    runs.mockRestore();
    const predictions = settled.slice(0, 4).map((result) => (result as PromiseFulfilledResult<Prediction>).value);
    expect(predictions).toEqual(await alone(table, rows));
    predictions.forEach((prediction, index) =>
      expectCloseTo(logits(prediction), expected.iris.studentLogits[index] as number[]),
    );
    await batcher.close();
  });

  test('encoded images: decoded on their own, predicted together; a broken file fails only its call', async () => {
    const pngs = await Promise.all(
      [1, 2, 3].map((seed) =>
        sharp(Buffer.from(Uint8Array.from(digit(seed))), { raw: { width: 28, height: 28, channels: 1 } })
          .png()
          .toBuffer(),
      ),
    );
    const broken = (pngs[0] as Buffer).subarray(0, 40);
    const runs = jest.spyOn(images, 'predictBatch');
    const batcher = images.batcher({ maxDelayMs: 20 });
    const settled = await Promise.allSettled([...pngs, broken].map((png) => batcher.predict(png)));
    expect(settled.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled', 'rejected']);
    expect((settled[3] as PromiseRejectedResult).reason).toBeInstanceOf(InputValidationError);
    expect(runs).toHaveBeenCalledTimes(1);
    runs.mockRestore();
    const predictions = settled.slice(0, 3).map((result) => (result as PromiseFulfilledResult<Prediction>).value);
    expect(predictions).toEqual(await alone(images, pngs));
    await batcher.close();
  });
});

describe('queue and close', () => {
  /** The model behind a gate: its runs start only once the test opens it. */
  function gated(model: OnnxModel, until: Promise<void>): BatchTarget {
    return { info: model.info, predictBatch: async (inputs) => (await until, model.predictBatch(inputs)) };
  }

  test('a full queue refuses the next call at once with QueueFullError', async () => {
    const { opened, open } = gate();
    const batcher = new Batcher(gated(iris, opened), { maxBatch: 2, maxQueue: 3, maxDelayMs: 1 });
    const samples = irisSamples(6);
    // Two run (held at the gate), three wait for the one run slot.
    const accepted = samples.slice(0, 5).map((sample) => batcher.predict(sample));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(batcher.inFlight).toBe(1);
    expect(batcher.queued).toBe(3);
    const refused = batcher.predict(samples[5] as number[]);
    await expect(refused).rejects.toBeInstanceOf(QueueFullError);
    await expect(refused).rejects.toMatchObject({ maxQueue: 3, queued: 3, model: 'soft-t20' });
    open();
    const predictions = await Promise.all(accepted);
    expect(predictions).toEqual(await iris.predictBatch(samples.slice(0, 5)));
    expect(batcher.queued).toBe(0);
    await batcher.close();
  });

  test('close() answers every queued call at once, then refuses new ones', async () => {
    const runs = jest.spyOn(iris, 'predictBatch');
    const batcher = iris.batcher({ maxBatch: 64, maxDelayMs: 60_000 });
    const answers = expected.iris.samples.slice(0, 5).map((sample) => batcher.predict(sample));
    const answered: number[] = [];
    answers.forEach((answer, index) => void answer.then(() => answered.push(index)));
    await Promise.resolve();
    const started = performance.now();
    await batcher.close();
    expect(performance.now() - started).toBeLessThan(1000);
    expect(answered.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(runs).toHaveBeenCalledTimes(1);
    await expect(batcher.predict(expected.iris.samples[0] as number[])).rejects.toBeInstanceOf(BatcherClosedError);
    await batcher.close(); // twice: nothing left, resolves at once
  });

  test('close() waits for a run in flight and for calls still being checked', async () => {
    const { opened, open } = gate();
    const batcher = new Batcher(gated(iris, opened), { maxBatch: 1, maxDelayMs: 0 });
    const first = batcher.predict(expected.iris.samples[0] as number[]);
    await new Promise((resolve) => setTimeout(resolve, 5));
    let closed = false;
    const closing = batcher.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(closed).toBe(false);
    open();
    await closing;
    await expect(first).resolves.toMatchObject({ task: 'classification' });
  });
});

describe('options', () => {
  test.each([
    [{ maxBatch: 0 }, 'maxBatch'],
    [{ maxBatch: 1.5 }, 'maxBatch'],
    [{ maxQueue: -1 }, 'maxQueue'],
    [{ maxBatch: 8, maxQueue: 4 }, 'maxQueue'],
    [{ maxDelayMs: -1 }, 'maxDelayMs'],
    [{ maxDelayMs: Number.NaN }, 'maxDelayMs'],
    [{ maxDelayMs: Infinity }, 'maxDelayMs'],
    [{ concurrency: 0 }, 'concurrency'],
    [{ waitWhenIdle: 'yes' as unknown as boolean }, 'waitWhenIdle'],
  ])('%j is refused, naming %s', (options, option) => {
    expect(() => iris.batcher(options)).toThrow(BatcherOptionError);
    expect(() => iris.batcher(options)).toThrow(expect.objectContaining({ option }) as Error);
  });

  test('defaults fill what is left out', () => {
    expect(iris.batcher({ maxBatch: 8 }).options).toEqual({
      maxBatch: 8,
      maxDelayMs: 2,
      maxQueue: 1024,
      concurrency: 1,
      waitWhenIdle: false,
    });
  });
});

test('a PredictionPool batcher sends whole batches to its workers, one per worker at a time', async () => {
  const pool = await PredictionPool.create(MNIST, { workers: 2 });
  try {
    const batcher = pool.batcher({ maxBatch: 8, maxDelayMs: 5 });
    expect(batcher.options.concurrency).toBe(2);
    const runs = jest.spyOn(pool, 'predictBatch');
    const inputs = Array.from({ length: 16 }, (_, seed) => digit(seed));
    const predictions = await Promise.all(inputs.map((input) => batcher.predict(input)));
    expect(runs.mock.calls.map(([batch]) => (batch as ModelInput[]).length)).toEqual([8, 8]);
    runs.mockRestore();
    expect(predictions).toEqual(await mnist.predictBatch(inputs));
    await batcher.close();
  } finally {
    await pool.close();
  }
}, 60_000);

function logits(prediction: Prediction | undefined): number[] {
  if (prediction?.task !== 'classification' || prediction.logits === null) throw new Error('expected logits');
  return prediction.logits;
}

function expectCloseTo(actual: number[], wanted: number[]): void {
  expect(actual).toHaveLength(wanted.length);
  actual.forEach((value, index) => expect(value).toBeCloseTo(wanted[index] as number, 5));
}
