/**
 * A table from CSV to `model.predict(row)`, end to end: run() on CSV train/test files (a string label, a
 * categorical column, missing values) trains a tiny teacher and a soft-targets student, exports and evaluates;
 * then the runtime on the raw CSV rows must give what the runtime gives on the encoded test arrays the run
 * wrote, and what Python's checkpoint gives on the engine data the run recorded; the CLI's predict and eval
 * take the CSV too. And a regression with two target columns.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTableFile } from '../src/data/table';
import { run } from '../src/experiment';
import {
  OnnxModel,
  loadDataset,
  type ClassPrediction,
  type Prediction,
  type RegressionPrediction,
} from '../src/runtime';
import type { ClassificationTest } from '../src/experiment/report-types';
import { CLI, ROOT, tempDir } from './support/tiny';
import { closeIfOpened } from './support/hooks';
import { maxAbsDifference, probabilities, pythonProbabilities } from './support/parity';

const quick = { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } } as const;

/** A deterministic pseudo-random stream (an LCG), so the files are the same every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const COLOURS = ['red', 'green', 'blue'];

function shopCsv(rows: number, seed: number): string {
  const next = random(seed);
  const lines = ['size,colour,gift,weight,grade'];
  for (let i = 0; i < rows; i++) {
    const size = 10 * next();
    const colour = COLOURS[Math.floor(3 * next())]!;
    const gift = next() < 0.5;
    const weight = next() < 0.1 ? '' : (2 * next()).toFixed(3); // missing values
    const score = size + (colour === 'red' ? 3 : colour === 'blue' ? -3 : 0) + (gift ? 1 : 0) + next();
    const grade = score < 4 ? 'low' : score < 8 ? 'mid' : 'high';
    lines.push(`${size.toFixed(3)},${i % 17 === 5 ? '' : colour},${String(gift)},${weight},${grade}`);
  }
  return lines.join('\n') + '\n';
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('a CSV table, from training to predict(row)', () => {
  const folder = tempDir('table-e2e');
  const outDir = path.join(folder, 'out');
  const trainFile = path.join(folder, 'train.csv');
  const testFile = path.join(folder, 'test.csv');
  let report: Awaited<ReturnType<typeof run>>;
  let student: OnnxModel;

  beforeAll(async () => {
    fs.writeFileSync(trainFile, shopCsv(400, 1));
    fs.writeFileSync(testFile, shopCsv(120, 2));
    report = await run(
      {
        name: 'shop',
        seed: 0,
        device: 'cpu',
        data: {
          train: { type: 'csv', path: trainFile, label: 'grade' },
          test: { type: 'csv', path: testFile },
          validation: { type: 'split', fraction: 0.1 },
        },
        teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, training: quick },
        students: [
          {
            name: 'soft',
            model: { type: 'mlp', hidden: [8] },
            method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
            training: quick,
          },
        ],
        evaluate: { benchmark: false },
      },
      { outDir },
    );
    student = await OnnxModel.load(path.join(outDir, 'soft.onnx'));
  });

  afterAll(() => closeIfOpened(student));

  test('the run trains on the encoded table and records the encoding in every model', () => {
    expect(report.students[0]!.test.n).toBe(120);
    expect((report.teacher.test as ClassificationTest).accuracy).toBeGreaterThan(0.5); // chance is about 1/3
    expect(report.data).toEqual({ kind: 'table', rows: { train: 400, test: 120 }, skipped: {} });
    const resolved = JSON.parse(fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8'));
    expect(student.info.preprocess).toEqual(resolved.data.preprocess);
    expect(student.info.labels).toEqual(['high', 'low', 'mid']);
    expect(student.info.input.shape).toEqual([1 + 4 + 1 + 1]); // size, colour (3 + missing), gift, weight
    const colour = resolved.data.preprocess.columns[1];
    expect(colour).toEqual({
      name: 'colour',
      type: 'categorical',
      categories: ['blue', 'green', 'red', ''],
      missingCategory: '',
      unseen: 'zeros',
    });
  });

  test('predict(row) on the raw CSV rows gives what the runtime gives on the encoded test.npz', async () => {
    const rows = await readTableFile(testFile);
    const encoded = await loadDataset(path.join(outDir, 'data', 'test.npz'));
    const onRows = probabilities(await student.predictBatch(rows));
    const onArrays = probabilities(await student.predictBatch(encoded.x as Float32Array));
    expect(maxAbsDifference(onRows, onArrays)).toBeLessThanOrEqual(1e-5);
    for (const index of [0, 5, 22]) {
      const one = (await student.predict(rows[index]!)) as ClassPrediction;
      expect(maxAbsDifference([one.probabilities], [onArrays[index]!])).toBeLessThanOrEqual(1e-5);
    }
    // Typed rows as a service holds them: numbers and booleans, the label left out, a missing value absent.
    const typed = (await student.predict({ size: 4.5, colour: 'red', gift: true })) as ClassPrediction;
    const text = (await student.predict({ size: '4.5', colour: 'red', gift: 'true', weight: '' })) as ClassPrediction;
    expect(typed.probabilities).toEqual(text.probabilities);
    await expect(student.predict({ size: 1, colour: 'red', colour2: 'x' })).rejects.toThrow(
      "sample.colour2: expected no such column (the model's columns: size, colour, gift, weight)",
    );
  });

  test("the runtime on raw rows matches Python's checkpoint on the engine data the run recorded", async () => {
    const rows = await readTableFile(testFile);
    const onRows = probabilities(await student.predictBatch(rows));
    expect(maxAbsDifference(onRows, pythonProbabilities(outDir, 'soft.pt'))).toBeLessThanOrEqual(1e-5);
  });

  test('the CLI predicts from the CSV and evaluates on it', () => {
    const predicted = cli(['predict', path.join(outDir, 'soft.onnx'), testFile, '--json']);
    expect(predicted.stderr).not.toMatch(/^error/m);
    expect(predicted.status).toBe(0);
    const predictions = JSON.parse(predicted.stdout) as ClassPrediction[];
    expect(predictions).toHaveLength(120);
    const evaluated = cli(['eval', path.join(outDir, 'soft.onnx'), '--data', testFile, '--json']);
    expect(evaluated.status).toBe(0);
    const evaluation = JSON.parse(evaluated.stdout);
    expect(evaluation.samples).toBe(120);
    expect(evaluation.accuracy).toBeCloseTo((report.students[0]!.test as ClassificationTest).accuracy, 10);
  });
});

describe('a regression table with two target columns', () => {
  test('trains, and predict(row) on the raw rows gives the values the runtime gives on the arrays', async () => {
    const folder = tempDir('table-regression');
    const next = random(7);
    const lines = ['a,kind,p,q'];
    for (let i = 0; i < 300; i++) {
      const a = 4 * next();
      const kind = next() < 0.5 ? 'x' : 'y';
      lines.push(
        `${a.toFixed(3)},${kind},${(2 * a + (kind === 'x' ? 1 : 0)).toFixed(3)},${(a * a - (kind === 'y' ? 2 : 0)).toFixed(3)}`,
      );
    }
    const file = path.join(folder, 'rows.jsonl');
    const header = lines[0]!.split(',');
    fs.writeFileSync(
      file,
      lines
        .slice(1)
        .map((line) =>
          JSON.stringify(
            Object.fromEntries(line.split(',').map((cell, k) => [header[k]!, k === 1 ? cell : Number(cell)])),
          ),
        )
        .join('\n'),
    );
    const outDir = path.join(folder, 'out');
    const report = await run(
      {
        name: 'two-targets',
        seed: 0,
        device: 'cpu',
        data: {
          task: 'regression',
          train: { type: 'csv', path: file, label: ['p', 'q'], limit: 240 },
          test: { type: 'csv', path: file, offset: 240 },
        },
        teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, method: { type: 'targets' }, training: quick },
        students: [
          {
            name: 'mimic',
            model: { type: 'mlp', hidden: [8] },
            method: { type: 'regression-distillation' },
            training: quick,
          },
        ],
        evaluate: { benchmark: false },
      },
      { outDir },
    );
    expect(report.students[0]!.test.n).toBe(60);
    const model = await OnnxModel.load(path.join(outDir, 'mimic.onnx'));
    try {
      expect(model.info.labels).toEqual(['p', 'q']);
      const rows = (await readTableFile(file)).slice(240);
      const encoded = await loadDataset(path.join(outDir, 'data', 'test.npz'));
      expect(encoded.targetWidth).toBe(2);
      const values = (predictions: Prediction[]) =>
        predictions.map((prediction) => (prediction as RegressionPrediction).values);
      const onRows = values(await model.predictBatch(rows));
      expect(onRows[0]).toHaveLength(2);
      expect(maxAbsDifference(onRows, values(await model.predictBatch(encoded.x as Float32Array)))).toBeLessThanOrEqual(
        1e-5,
      );
    } finally {
      await model.close();
    }
  });
});
