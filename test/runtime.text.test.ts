/**
 * The runtime with text models: tiny hand-made embedding-bag ONNX models (test/support/text_model.py, independent of
 * the engine's text families) carrying their tokenizer in `distillery.tokenizer`. Predictions from texts and rows —
 * tokenized here, padded to the batch's longest text — must equal torch's on Python's ids padded to maxLength.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { resolveInterpreter } from '../src/engine';
import { InputValidationError, ModelLoadError, OnnxModel, PredictionPool, type Prediction } from '../src/runtime';
import { closeIfOpened } from './support/hooks';
import { ROOT, tempDir } from './support/tiny';

let dir: string;
let reference: { texts: string[]; text: number[][]; mixed: number[][] };
let text: OnnxModel;
let mixed: OnnxModel;

beforeAll(async () => {
  dir = tempDir('runtime-text');
  const script = path.join(ROOT, 'test', 'support', 'text_model.py');
  const result = spawnSync(await resolveInterpreter(), ['-W', 'ignore', script, dir], {
    encoding: 'utf8',
    env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1', OMP_NUM_THREADS: '1' },
  });
  if (result.status !== 0) throw new Error(`text_model.py failed (${String(result.status)}): ${result.stderr}`);
  reference = JSON.parse(fs.readFileSync(path.join(dir, 'reference.json'), 'utf8')) as typeof reference;
  text = await OnnxModel.load(path.join(dir, 'text.onnx'), { threads: 1 });
  mixed = await OnnxModel.load(path.join(dir, 'mixed.onnx'), { threads: 1 });
}, 90_000);

afterAll(async () => {
  await closeIfOpened(text);
  await closeIfOpened(mixed);
});

function logits(prediction: Prediction): number[] {
  if (prediction.task !== 'classification' || prediction.logits === null) throw new Error('expected logits');
  return prediction.logits;
}

function expectClose(actual: number[], expected: number[]): void {
  expect(actual).toHaveLength(expected.length);
  actual.forEach((value, index) => expect(value).toBeCloseTo(expected[index] as number, 5));
}

test('info describes the text column and its tokenizer', () => {
  expect(text.info.tokenizer).toEqual({
    column: 'review',
    kind: 'wordpiece',
    vocabSize: expect.any(Number) as number,
    maxLength: 12,
    truncation: 'right',
    sha256: expect.stringMatching(/^[0-9a-f]{64}$/) as string,
  });
  expect(text.info.preprocess).toMatchObject({ kind: 'table', columns: [{ name: 'review', type: 'text' }] });
  expect(mixed.info.tokenizer).toMatchObject({ column: 'review', truncation: 'left' });
});

test("predict('some text') gives torch's logits on Python's ids", async () => {
  for (const [index, sentence] of reference.texts.entries()) {
    expectClose(logits(await text.predict(sentence)), reference.text[index] as number[]);
    expectClose(logits(await text.predict({ review: sentence })), reference.text[index] as number[]);
  }
});

test('predictBatch pads to the longest text and gives the same logits as one by one', async () => {
  const predictions = await text.predictBatch(reference.texts);
  predictions.forEach((prediction, index) => expectClose(logits(prediction), reference.text[index] as number[]));
  // rows and texts mixed, and a row with its label (ignored)
  const rows = await text.predictBatch([reference.texts[0] as string, { review: reference.texts[1], label: '1' }]);
  expectClose(logits(rows[1] as Prediction), reference.text[1] as number[]);
});

test('mixed rows: a numeric column and the text, truncated on the left', async () => {
  const rows = reference.texts.map((review, index) => ({ stars: index + 1, review }));
  const batch = await mixed.predictBatch(rows);
  batch.forEach((prediction, index) => expectClose(logits(prediction), reference.mixed[index] as number[]));
  expectClose(logits(await mixed.predict(rows[4] as (typeof rows)[number])), reference.mixed[4] as number[]);
});

test('a missing or null text is empty text; a row without the text key is too', async () => {
  const empty = logits(await text.predict(''));
  expectClose(logits(await text.predict({ review: null })), empty);
  expectClose(logits(await text.predict({})), empty);
});

test('a packed sample of F + maxLength numbers still works (the full width)', async () => {
  const batch = await text.predictBatch([new Float32Array(12)]);
  expectClose(logits(batch[0] as Prediction), logits(await text.predict('')));
});

test('typed errors: a text for a mixed model, a non-string text, an unknown column', async () => {
  await expect(mixed.predict('a fine film')).rejects.toThrow(InputValidationError);
  await expect(mixed.predict('a fine film')).rejects.toThrow(/other columns than its text column review/);
  await expect(text.predict({ review: 5 })).rejects.toMatchObject({
    name: 'InputValidationError',
    field: 'sample.review',
    expected: 'a string (text column)',
  });
  await expect(text.predictBatch(['ok', { review: true }])).rejects.toMatchObject({ field: 'samples[1].review' });
  await expect(text.predict({ reviews: 'typo' })).rejects.toMatchObject({ field: 'sample.reviews' });
});

test('a string for a model without a text column is a typed error', async () => {
  const iris = await OnnxModel.load(path.join(ROOT, 'test', 'fixtures', 'iris_student.onnx'));
  try {
    await expect(iris.predict('some text')).rejects.toThrow(InputValidationError);
    await expect(iris.predict('some text')).rejects.toThrow(/no text column/);
  } finally {
    await iris.close();
  }
});

test('a tokenizer whose sha256 is not the preprocess spec’s fails to load', async () => {
  const loading = OnnxModel.load(path.join(dir, 'bad-sha.onnx'));
  await expect(loading).rejects.toThrow(ModelLoadError);
  await expect(OnnxModel.load(path.join(dir, 'bad-sha.onnx'))).rejects.toMatchObject({
    reason: 'invalid-metadata',
    message: expect.stringMatching(/does not belong to this model/) as string,
  });
});

test('the PredictionPool predicts texts and rows like OnnxModel', async () => {
  const pool = await PredictionPool.create(path.join(dir, 'mixed.onnx'), { workers: 1 });
  try {
    const rows = reference.texts.map((review, index) => ({ stars: index + 1, review }));
    const batch = await pool.predictBatch(rows);
    batch.forEach((prediction, index) => expectClose(logits(prediction), reference.mixed[index] as number[]));
    expectClose(logits(await pool.predict(rows[2] as (typeof rows)[number])), reference.mixed[2] as number[]);
  } finally {
    await pool.close();
  }
  const textPool = await PredictionPool.create(path.join(dir, 'text.onnx'), { workers: 1 });
  try {
    expectClose(logits(await textPool.predict(reference.texts[0] as string)), reference.text[0] as number[]);
  } finally {
    await textPool.close();
  }
});
