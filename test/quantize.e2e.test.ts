/**
 * int8 / fp16 variants end to end: an experiment with export.quantize (variants made by the engine, evaluated,
 * guarded, drawn on the accuracy–cost frontier, verified), and `distillery quantize` with its bad inputs.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine, PythonError, verifyRun, type ExperimentInput } from '../src';
import { parseExperiment } from '../src/config';
import { OnnxModel, loadDataset } from '../src/runtime';
import { npyBytes } from '../src/facade/arrays';
import { addVariants } from '../src/experiment/variants';
import type { ModelReport, RunReport } from '../src/experiment/report';
import type { ModelResult } from '../src/engine';
import { CLI, ROOT, tempDir, writeJson } from './support/tiny';

const training = { epochs: 2, batchSize: 64, optimizer: { type: 'adam', lr: 0.003 } } as const;
const experiment: ExperimentInput = {
  name: 'quantized',
  seed: 0,
  device: 'cpu',
  data: {
    train: { type: 'mnist', split: 'train', limit: 400 },
    test: { type: 'mnist', split: 'test', limit: 200 },
    validation: { type: 'split', fraction: 0.25 },
  },
  teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training },
  students: [{ name: 'soft', model: { type: 'mlp', hidden: [32] }, method: { type: 'soft-targets', temperature: 4 }, training }],
  export: { quantize: ['int8-dynamic', 'int8-static', 'fp16'], maxAccuracyDrop: 0.5 },
  evaluate: { benchmark: true },
};

/** The compiled CLI: charts are drawn there (vega is ESM, which jest's module system does not load). */
function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, encoding: 'utf8', timeout: 300_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('quantised and fp16 variants', () => {
  let engine: Engine;
  let out: string;
  let report: RunReport;
  beforeAll(async () => {
    const folder = tempDir('quantize');
    out = path.join(folder, 'run');
    const ran = cli(['run', writeJson(path.join(folder, 'exp.json'), experiment), '--out', out]);
    if (ran.status !== 0) throw new Error(`distillery run failed: ${ran.stderr}`);
    report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8')) as RunReport;
    engine = await Engine.start();
  });
  afterAll(async () => {
    await engine?.close();
  });

  test('every student gets each variant as its own file, evaluated, timed and guarded, and the run verifies', async () => {
    const [student] = report.students as [ModelReport];
    expect(student.variants?.map((v) => v.method)).toEqual(['int8-dynamic', 'int8-static', 'fp16']);
    for (const variant of student.variants ?? []) {
      expect(variant.onnx).toBe(`soft.${variant.method}.onnx`);
      expect(fs.statSync(path.join(out, variant.onnx)).size).toBe(variant.sizeBytes);
      // calibrated on the rows trained on, never on the held-out validation rows the guard reads
      expect(variant.calibrationRows).toBe(variant.method === 'int8-static' ? 300 : null);
      expect(variant.latency?.batch1P50Ms).toBeGreaterThan(0);
      if (!('accuracy' in variant.test) || !('accuracy' in student.test)) throw new Error('expected classification');
      expect(variant.accuracyDropPoints).toBeCloseTo(100 * (student.test.accuracy - variant.test.accuracy), 9);
      // the guard decided on data.validation (100 of the 400 rows), never on the test split
      expect(variant.guard).toMatchObject({ split: 'validation', rows: 100, maxDropPoints: 0.5 });
      expect(variant.rejected).toBe(variant.guard!.dropPoints > 0.5);
      expect(variant.guard!.dropPoints).toBeCloseTo(100 * (variant.guard!.fp32Accuracy - variant.guard!.accuracy), 9);
      expect(variant.agreementWithFp32).toBeGreaterThan(0.9);
      // the runtime loads it like any model, and it says what it is
      const model = await OnnxModel.load(path.join(out, variant.onnx));
      try {
        expect(model.info.quantization?.method).toBe(variant.method);
        expect(model.info.normalizationInGraph).toBe(true);
        expect(model.info.name).toBe('soft');
      } finally {
        await model.close();
      }
    }
    const markdown = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('## Quantised and half-precision variants');
    expect(markdown).toContain('| soft.int8-static |');
    expect(markdown).toContain("on 100 data.validation rows, never on the test set");
    expect(markdown).toContain('![accuracy against latency and size](accuracy-frontier.svg)');
    expect(fs.readFileSync(path.join(out, 'accuracy-frontier.svg'), 'utf8')).toMatch(/^<svg[\s\S]*Pareto front[\s\S]*<\/svg>$/);
    expect(verifyRun(out)).toMatchObject({ ok: true, problems: [] });
  });

  test("the report follows the engine's guard, not the test split, and says why a variant was rejected", async () => {
    const result = JSON.parse(fs.readFileSync(path.join(out, 'results', 'soft.json'), 'utf8')) as ModelResult;
    const [student] = report.students as [ModelReport];
    // The engine's guard found every variant 1.5 points below fp32 on validation; the test accuracy is untouched.
    for (const variant of result.variants ?? []) variant.guard = { ...variant.guard!, accuracy: variant.guard!.fp32Accuracy - 0.015, dropPoints: 1.5, rejected: true };
    const inflated: ModelReport = { ...student, variants: undefined };
    const fp32 = await OnnxModel.load(path.join(out, 'soft.onnx'));
    try {
      const config = parseExperiment({ ...experiment, evaluate: { benchmark: false } });
      await addVariants([inflated], [result], [fp32], await loadDataset(path.join(out, 'data', 'test.npz')), config, out);
    } finally {
      await fp32.close();
    }
    expect(inflated.variants?.every((v) => v.rejected)).toBe(true);
    expect(inflated.variants?.[0]?.reason).toBe('validation accuracy 1.50 points below soft on 100 validation rows (export.maxAccuracyDrop: 0.5)');
  });

  test('distillery quantize: a variant next to the model; static needs calibration data of the right shape', () => {
    const folder = tempDir('quantize-cli');
    const model = path.join(folder, 'soft.onnx');
    fs.copyFileSync(path.join(out, 'soft.onnx'), model);
    const good = path.join(folder, 'calib.npy');
    fs.writeFileSync(good, npyBytes(new Float32Array(50 * 784).fill(128), [50, 28, 28]));
    const made = cli(['quantize', model, '--data', good, '--method', 'int8-static', '--json']);
    expect(made.stderr).toBe('');
    expect(made.status).toBe(0);
    expect(JSON.parse(made.stdout)).toMatchObject([{ method: 'int8-static', path: path.join(folder, 'soft.int8-static.onnx'), calibrationRows: 50 }]);

    const missing = cli(['quantize', model, '--method', 'int8-static']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(`error [data]: QuantizationError: ${model}: int8-static quantisation needs calibration data`);

    const wrong = path.join(folder, 'wrong.npy');
    fs.writeFileSync(wrong, npyBytes(new Float32Array(5 * 3), [5, 3]));
    const shaped = cli(['quantize', model, '--data', wrong, '--method', 'int8-static']);
    expect(shaped.status).toBe(1);
    expect(shaped.stderr).toContain(`calibration data ${wrong}: expected rows of shape [N, 28, 28] (784 values each), got an array of shape [5, 3]`);
    expect(fs.existsSync(path.join(folder, 'soft.int8-static.onnx'))).toBe(true); // the earlier variant, untouched

    const unknown = cli(['quantize', model, '--method', 'int4']);
    expect(unknown.status).toBe(2);
    expect(unknown.stderr).toContain('expected int8-dynamic, int8-static, fp16 (comma-separated), got int4');
    const twoOuts = cli(['quantize', model, '--method', 'int8-dynamic,fp16', '--out', path.join(folder, 'x.onnx')]);
    expect(twoOuts.status).toBe(2);
    expect(twoOuts.stderr).toContain('out: --out names one file: give one --method with it');
  });

  test('the engine command reports a missing calibration file as a typed error naming it', async () => {
    const missing = path.join(tempDir('quantize-missing'), 'none.npz');
    const error = await engine.call('quantize', { model: path.join(out, 'soft.onnx'), method: 'int8-static', data: missing }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect(error).toMatchObject({ pythonType: 'QuantizationError', file: missing });
  });
});
