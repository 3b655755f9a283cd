/**
 * Teachers with their own tokenizer through `run()` (issue 27, "Text teachers"): a Hugging Face ONNX folder and a
 * Hugging Face checkpoint fine-tuned here, both tiny random BERTs made by test/support/hf_teacher.py (nothing is
 * downloaded). Neither is exported: the report measures the teacher from the test outputs the engine wrote (no .onnx,
 * no latency, shown as —), its students' agreement with it from those outputs too, and verify accepts the students'
 * recorded teacher. The student still runs from raw strings in Node as Python's checkpoint does. And an augmented
 * transfer set, whose masked words reach the teacher as its own [MASK] (python/tests/test_hf_teachers.py checks the id).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readTableFile } from '../src/data/table';
import { Engine } from '../src/engine';
import { run } from '../src/experiment';
import { verifyRun } from '../src/experiment/verify';
import type { ClassificationTest, RunReport } from '../src/experiment/report-types';
import { distill, trainTeacher } from '../src/facade';
import type { ExperimentInput } from '../src/config/schema';
import { OnnxModel } from '../src/runtime';
import { closeIfOpened } from './support/hooks';
import { maxAbsDifference, probabilities, python, pythonProbabilities } from './support/parity';
import { reviews, reviewsCsv } from './support/reviews';
import { ROOT, tempDir } from './support/tiny';

const quick = { epochs: 2, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } } as const;

// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names the file's shape
function readJson<T>(file: string): T {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as T;
}

describe('teachers with their own tokenizer, through run()', () => {
  const folder = tempDir('text-teachers');
  const trainFile = path.join(folder, 'train.csv');
  const testFile = path.join(folder, 'test.csv');
  const trainRows = reviews({ rows: 200, seed: 1 });
  const testRows = reviews({ rows: 60, seed: 2 });
  const hfOnnx = path.join(folder, 'hf', 'bert-onnx');
  const hfCheckpoint = path.join(folder, 'hf', 'bert');
  let engine: Engine;

  const experiment = (
    name: string,
    teacher: ExperimentInput['teacher'],
    transfer?: NonNullable<ExperimentInput['data']>['transfer'],
  ): ExperimentInput => ({
    name,
    seed: 0,
    device: 'cpu',
    data: {
      train: {
        type: 'csv',
        path: trainFile,
        label: 'label',
        // BPE: its [UNK] is an added token, which augment's masking needs (the fitted WordPiece's is not)
        text: { tokenizer: transfer ? 'bpe' : 'wordpiece', vocabSize: 200, minFrequency: 1, maxLength: 24 },
      },
      test: { type: 'csv', path: testFile },
      validation: { type: 'split', fraction: 0.2 },
      ...(transfer ? { transfer } : {}),
    },
    teacher,
    students: [
      {
        name: 'bag',
        model: { type: 'embedding-bag' },
        method: { type: 'soft-targets', temperature: 2, alpha: 0.5 },
        training: quick,
      },
    ],
    evaluate: { benchmark: false },
  });

  beforeAll(async () => {
    fs.writeFileSync(trainFile, reviewsCsv(trainRows));
    fs.writeFileSync(testFile, reviewsCsv(testRows));
    const texts = path.join(folder, 'texts.json');
    fs.writeFileSync(texts, JSON.stringify([...trainRows, ...testRows].map((row) => row.review)));
    python([path.join(ROOT, 'test', 'support', 'hf_teacher.py'), texts, path.join(folder, 'hf')]);
    engine = await Engine.start();
  }, 120_000);

  afterAll(() => closeIfOpened(engine));

  describe('a huggingface-onnx teacher', () => {
    const outDir = path.join(folder, 'onnx-run');
    let report: RunReport;

    beforeAll(async () => {
      report = await run(experiment('hf-onnx', { type: 'huggingface-onnx', path: hfOnnx }), { outDir, engine });
    }, 120_000);

    test("the report measures the teacher from the engine's test outputs: no .onnx, no latency", () => {
      const teacher = report.teacher;
      expect(teacher).toMatchObject({ inputs: 'texts', onnx: null, sizeBytes: null, parityMaxAbsDiff: null });
      expect(teacher.latency).toBeNull();
      const engineResult = readJson<{ metrics: Record<string, number> }>(path.join(outDir, 'results', 'teacher.json'));
      const test = teacher.test as ClassificationTest;
      expect(test.n).toBe(60);
      expect(test.accuracy).toBeCloseTo(engineResult.metrics.testAccuracy!, 6); // Python's, on the same rows
      expect(test.errors).toBe(engineResult.metrics.testErrors);
      expect(test.nll).toBeCloseTo(engineResult.metrics.testNll!, 4);
      expect(engineResult.metrics.validationAccuracy).toBeDefined(); // the teacher-not-better warning's score
      expect(fs.existsSync(path.join(outDir, 'teacher.onnx'))).toBe(false);
      // the student's agreement with it: its ONNX file's classes against the teacher's, on the same test rows
      const bag = report.students.find((student) => student.name === 'bag')!;
      const bagResult = readJson<{ metrics: Record<string, number>; teacher: { sha256: string } }>(
        path.join(outDir, 'results', 'bag.json'),
      );
      expect(Math.abs(bag.agreementWithTeacher! - bagResult.metrics.testAgreement!)).toBeLessThanOrEqual(1 / 60);
      expect(teacher.source?.sha256).toBe(bagResult.teacher.sha256);
      expect(bag.verdict).toBeDefined(); // against the labels-trained twin, as with any teacher
      const md = fs.readFileSync(path.join(outDir, 'report.md'), 'utf8');
      expect(md).toContain('reads the raw texts with its own tokenizer');
      expect(md).toMatch(/\| teacher \| teacher \| [\d.]+% \| \d+ \| — \| — \| [\d.]+k? \| — \| — \| — \| — \| — \|/);
      expect(verifyRun(outDir).ok).toBe(true);
    });

    test("the student's runtime predictions from raw strings equal Python's", async () => {
      const student = await OnnxModel.load(path.join(outDir, 'bag.onnx'));
      try {
        const fromNode = probabilities(await student.predictBatch(await readTableFile(testFile)));
        expect(maxAbsDifference(fromNode, pythonProbabilities(outDir, 'bag.pt'))).toBeLessThanOrEqual(1e-5);
      } finally {
        await student.close();
      }
    });
  });

  test('a huggingface teacher fine-tuned here, then a student', async () => {
    const outDir = path.join(folder, 'fine-tuned-run');
    const teacher = { type: 'huggingface', path: hfCheckpoint, epochs: 2, lr: 3e-3, batchSize: 16, warmup: 0 } as const;
    const report = await run(experiment('hf-fine-tuned', teacher), { outDir, engine });
    expect(report.teacher).toMatchObject({ inputs: 'texts', onnx: null });
    expect(report.teacher.history).toHaveLength(2);
    expect(report.teacher.source?.path).toBe(path.join(outDir, 'checkpoints', 'teacher.hf', 'model.safetensors'));
    expect((report.teacher.test as ClassificationTest).n).toBe(60);
    expect(report.students.find((student) => student.name === 'bag')?.agreementWithTeacher).toBeDefined();
    expect(fs.existsSync(path.join(outDir, 'results', 'teacher.validation.json'))).toBe(true);
  }, 120_000);

  test('an augmented transfer set labelled by the huggingface-onnx teacher', async () => {
    const outDir = path.join(folder, 'augment-run');
    const report = await run(
      experiment('hf-augment', { type: 'huggingface-onnx', path: hfOnnx }, { type: 'augment', copies: 2 }),
      { outDir, engine },
    );
    const rows = report.data.rows;
    expect(rows.transfer).toBeGreaterThan(rows.train!);
    const texts = fs
      .readFileSync(path.join(outDir, 'data', 'transfer-texts.jsonl'), 'utf8')
      .trimEnd()
      .split('\n');
    expect(texts).toHaveLength(rows.transfer!);
    expect(texts.some((line) => line.includes('[UNK]'))).toBe(true); // masked words, read as [MASK] by the teacher
    expect(report.teacher.inputs).toBe('texts');
  }, 120_000);

  test('the facade: trainTeacher() and distill() take a Hugging Face ONNX folder', async () => {
    const outDir = path.join(folder, 'facade');
    const data = {
      train: { type: 'csv', path: trainFile, label: 'label', text: { vocabSize: 200, minFrequency: 1, maxLength: 24 } },
      test: { type: 'csv', path: testFile },
    } as const;
    const teacher = { type: 'huggingface-onnx', path: hfOnnx } as const;
    const trained = await trainTeacher({ outDir, device: 'cpu', data, teacher }, { engine });
    expect(trained).toMatchObject({ inputs: 'texts', onnx: null });
    const student = await distill(
      {
        outDir,
        device: 'cpu',
        data,
        teacher,
        student: { name: 'bag', model: { type: 'embedding-bag' }, method: { type: 'soft-targets' }, training: quick },
      },
      { engine },
    );
    expect(student.onnx).toBe(path.join(outDir, 'bag.onnx'));
    expect(student.teacher?.sha256).toBe(
      readJson<{ teacher: { sha256: string } | null }>(path.join(outDir, 'results', 'bag.json')).teacher?.sha256,
    );
  }, 120_000);
});
