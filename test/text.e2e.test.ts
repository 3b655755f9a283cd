/**
 * Text, end to end (issue 27's "done when"): `run()` on a CSV whose `review` column is free text fits a tokenizer on
 * data.train through the engine, trains a textcnn teacher and an embedding-bag student on the token ids, exports both
 * and evaluates them; then the runtime, given the raw strings, must give what Python's checkpoints give on the engine
 * data the run recorded (max abs difference ≤ 1e-5), `predict('some text')` must take a bare string, and the CLI's
 * predict and eval must take the CSV and JSON lines files as they are. And a JSON-lines table that mixes a numeric
 * column with a declared text column (a BPE tokenizer, cut on the left): `predict({ review, stars })`.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTableFile } from '../src/data/table';
import { run } from '../src/experiment';
import type { ClassificationTest } from '../src/experiment/report-types';
import { OnnxModel, type ClassPrediction } from '../src/runtime';
import { closeIfOpened } from './support/hooks';
import { maxAbsDifference, probabilities, pythonProbabilities } from './support/parity';
import { reviews, reviewsCsv, reviewsJsonl } from './support/reviews';
import { CLI, ROOT, tempDir } from './support/tiny';

const quick = { epochs: 4, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } } as const;

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('a CSV with a text column, from run() to predict(text)', () => {
  const folder = tempDir('text-e2e');
  const outDir = path.join(folder, 'out');
  const trainFile = path.join(folder, 'train.csv');
  const testFile = path.join(folder, 'test.csv');
  const testJsonl = path.join(folder, 'test.jsonl');
  const testRows = reviews({ rows: 100, seed: 2 });
  let report: Awaited<ReturnType<typeof run>>;
  let student: OnnxModel;
  let teacher: OnnxModel;

  beforeAll(async () => {
    fs.writeFileSync(trainFile, reviewsCsv(reviews({ rows: 400, seed: 1 })));
    fs.writeFileSync(testFile, reviewsCsv(testRows));
    fs.writeFileSync(testJsonl, reviewsJsonl(testRows));
    report = await run(
      {
        name: 'reviews',
        seed: 0,
        device: 'cpu',
        data: {
          train: {
            type: 'csv',
            path: trainFile,
            label: 'label',
            text: { vocabSize: 300, minFrequency: 1, maxLength: 24 },
          },
          test: { type: 'csv', path: testFile },
          validation: { type: 'split', fraction: 0.1 },
        },
        teacher: { type: 'train', model: { type: 'textcnn' }, training: quick },
        students: [
          {
            name: 'bag',
            model: { type: 'embedding-bag' },
            method: { type: 'soft-targets', temperature: 2, alpha: 0.5 },
            training: quick,
          },
        ],
        evaluate: { benchmark: false },
      },
      { outDir },
    );
    student = await OnnxModel.load(path.join(outDir, 'bag.onnx'));
    teacher = await OnnxModel.load(path.join(outDir, `${report.teacher.name}.onnx`));
  }, 150_000);

  afterAll(async () => {
    await closeIfOpened(student);
    await closeIfOpened(teacher);
  });

  test('the run fits a tokenizer on data.train, announces the inferred text column, and learns the sentiment', () => {
    expect(report.data.text).toMatchObject({
      column: 'review',
      inferred: true,
      tokenizer: 'wordpiece',
      tokenizerFile: 'data/tokenizer.json',
      maxLength: 24,
      truncation: 'right',
      emptyTexts: { train: 0, test: 0 },
    });
    expect(report.data.notes?.[0]).toContain('column "review" read as text');
    const resolved = JSON.parse(fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8'));
    expect(resolved.data.tokenizerFile).toBe(path.join(outDir, 'data', 'tokenizer.json'));
    expect(student.info.preprocess).toEqual(resolved.data.preprocess);
    expect((report.teacher.test as ClassificationTest).accuracy).toBeGreaterThan(0.8);
    expect((report.students[0]!.test as ClassificationTest).accuracy).toBeGreaterThan(0.8);
    expect(fs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toContain('Text column "review" (inferred)');
  });

  test("the runtime on raw strings gives what Python's checkpoints give on the engine's arrays", async () => {
    const rows = await readTableFile(testFile);
    expect(
      maxAbsDifference(probabilities(await student.predictBatch(rows)), pythonProbabilities(outDir, 'bag.pt')),
    ).toBeLessThanOrEqual(1e-5);
    expect(
      maxAbsDifference(
        probabilities(await teacher.predictBatch(rows)),
        pythonProbabilities(outDir, `${report.teacher.name}.pt`),
      ),
    ).toBeLessThanOrEqual(1e-5);
  });

  test('predict takes a bare string, a row object and a batch of strings alike', async () => {
    const texts = testRows.slice(0, 5).map((row) => row.review);
    const batch = probabilities(await student.predictBatch(texts));
    const rows = probabilities(await student.predictBatch(texts.map((review) => ({ review }))));
    expect(maxAbsDifference(batch, rows)).toBeLessThanOrEqual(1e-6);
    const one = (await student.predict(texts[0]!)) as ClassPrediction;
    expect(maxAbsDifference([one.probabilities], [batch[0]!])).toBeLessThanOrEqual(1e-5);
    const positive = (await student.predict('a wonderful film, superb and charming')) as ClassPrediction;
    expect(positive.label).toBe('pos');
  });

  test('the CLI predicts from CSV and JSON lines files and evaluates on the CSV', () => {
    const fromCsv = cli(['predict', path.join(outDir, 'bag.onnx'), testFile, '--json']);
    expect(fromCsv.stderr).not.toMatch(/^error/m);
    expect(fromCsv.status).toBe(0);
    const fromJsonl = cli(['predict', path.join(outDir, 'bag.onnx'), testJsonl, '--json']);
    expect(fromJsonl.status).toBe(0);
    const a = JSON.parse(fromCsv.stdout) as ClassPrediction[];
    const b = JSON.parse(fromJsonl.stdout) as ClassPrediction[];
    expect(a).toHaveLength(100);
    expect(maxAbsDifference(probabilities(a), probabilities(b))).toBeLessThanOrEqual(1e-6);
    const evaluated = cli(['eval', path.join(outDir, 'bag.onnx'), '--data', testFile, '--json']);
    expect(evaluated.stderr).not.toMatch(/^error/m);
    expect(evaluated.status).toBe(0);
    const evaluation = JSON.parse(evaluated.stdout);
    expect(evaluation.samples).toBe(100);
    expect(evaluation.accuracy).toBeCloseTo((report.students[0]!.test as ClassificationTest).accuracy, 10);
  });
});

describe('a JSON-lines table mixing a numeric column with the text column', () => {
  const folder = tempDir('text-e2e-mixed');
  const outDir = path.join(folder, 'out');
  const trainFile = path.join(folder, 'train.jsonl');
  const testFile = path.join(folder, 'test.jsonl');
  let student: OnnxModel;

  beforeAll(async () => {
    fs.writeFileSync(trainFile, reviewsJsonl(reviews({ rows: 300, seed: 3, mixed: true })));
    fs.writeFileSync(testFile, reviewsJsonl(reviews({ rows: 60, seed: 4, mixed: true })));
    await run(
      {
        name: 'mixed-reviews',
        seed: 0,
        device: 'cpu',
        data: {
          train: {
            type: 'csv',
            path: trainFile,
            label: 'label',
            columns: { review: 'text' },
            text: { tokenizer: 'bpe', vocabSize: 200, minFrequency: 1, maxLength: 16, truncation: 'left' },
          },
          test: { type: 'csv', path: testFile },
        },
        teacher: { type: 'train', model: { type: 'embedding-bag' }, training: quick },
        students: [{ name: 'bag', model: { type: 'embedding-bag' }, method: { type: 'hard-labels' }, training: quick }],
        evaluate: { benchmark: false },
      },
      { outDir },
    );
    student = await OnnxModel.load(path.join(outDir, 'bag.onnx'));
  }, 150_000);

  afterAll(() => closeIfOpened(student));

  test('predict({ review, stars }) on the raw rows gives what Python gives on the arrays; the text slots come last', async () => {
    const resolved = JSON.parse(fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8'));
    expect(resolved.data.preprocess.columns.map((column: { name: string }) => column.name)).toEqual([
      'stars',
      'review',
    ]);
    const rows = await readTableFile(testFile);
    const onRows = probabilities(await student.predictBatch(rows));
    expect(maxAbsDifference(onRows, pythonProbabilities(outDir, 'bag.pt'))).toBeLessThanOrEqual(1e-5);
    const first = rows[0]!;
    const one = (await student.predict({ review: first.review, stars: Number(first.stars) })) as ClassPrediction;
    expect(maxAbsDifference([one.probabilities], [onRows[0]!])).toBeLessThanOrEqual(1e-5);
  });
});
