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
import { npyBytes } from '../src/io/npy';
import { addVariants, notSmallerNote, variantsMarkdown } from '../src/experiment/variants';
import { makeAllOrNone, variantDestination } from '../src/cli/variant-files';
import type { ModelReport, RunReport } from '../src/experiment/report-types';
import { resolveInterpreter, type ModelResult } from '../src/engine';
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
  students: [
    { name: 'soft', model: { type: 'mlp', hidden: [32] }, method: { type: 'soft-targets', temperature: 4 }, training },
  ],
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
    await engine.close();
  });

  test('every student gets each variant as its own file, evaluated, timed and guarded, and the run verifies', async () => {
    const [student] = report.students as [ModelReport];
    expect(student.variants?.map((v) => v.method)).toEqual(['int8-dynamic', 'int8-static', 'fp16']);
    for (const variant of student.variants ?? []) {
      expect(variant.onnx).toBe(`soft.${variant.method}.onnx`);
      expect(fs.statSync(path.join(out, variant.onnx)).size).toBe(variant.sizeBytes);
      expect(variant.notSmaller).toBe(variant.sizeRatio >= 1);
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
    expect(markdown).toContain('on 100 data.validation rows, never on the test set');
    expect(markdown).toContain('![accuracy against latency and size](accuracy-frontier.svg)');
    expect(fs.readFileSync(path.join(out, 'accuracy-frontier.svg'), 'utf8')).toMatch(
      /^<svg[\s\S]*Pareto front[\s\S]*<\/svg>$/,
    );
    expect(verifyRun(out)).toMatchObject({ ok: true, problems: [] });
  });

  test("the report follows the engine's guard, not the test split, and says why a variant was rejected", async () => {
    const result = JSON.parse(fs.readFileSync(path.join(out, 'results', 'soft.json'), 'utf8')) as ModelResult;
    const [student] = report.students as [ModelReport];
    // The engine's guard found every variant 1.5 points below fp32 on validation; the test accuracy is untouched.
    for (const variant of result.variants ?? [])
      variant.guard = {
        ...variant.guard!,
        accuracy: variant.guard!.fp32Accuracy - 0.015,
        dropPoints: 1.5,
        rejected: true,
      };
    const inflated: ModelReport = { ...student, variants: undefined };
    const fp32 = await OnnxModel.load(path.join(out, 'soft.onnx'));
    try {
      const config = parseExperiment({ ...experiment, evaluate: { benchmark: false } });
      await addVariants(
        [inflated],
        [result],
        [fp32],
        await loadDataset(path.join(out, 'data', 'test.npz')),
        config,
        out,
      );
    } finally {
      await fp32.close();
    }
    expect(inflated.variants?.every((v) => v.rejected)).toBe(true);
    expect(inflated.variants?.[0]?.reason).toBe(
      'validation accuracy 1.50 points below soft on 100 validation rows (export.maxAccuracyDrop: 0.5)',
    );
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
    expect(JSON.parse(made.stdout)).toMatchObject([
      {
        method: 'int8-static',
        path: path.join(folder, 'soft.int8-static.onnx'),
        calibrationRows: 50,
        notSmaller: false,
      },
    ]);

    const missing = cli(['quantize', model, '--method', 'int8-static']);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toContain(
      `error [data]: QuantizationError: ${model}: int8-static quantisation needs calibration data`,
    );

    const wrong = path.join(folder, 'wrong.npy');
    fs.writeFileSync(wrong, npyBytes(new Float32Array(5 * 3), [5, 3]));
    const shaped = cli(['quantize', model, '--data', wrong, '--method', 'int8-static']);
    expect(shaped.status).toBe(1);
    expect(shaped.stderr).toContain(
      `calibration data ${wrong}: expected rows of shape [N, 28, 28] (784 values each), got an array of shape [5, 3]`,
    );
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
    const error = await engine
      .call('quantize', { model: path.join(out, 'soft.onnx'), method: 'int8-static', data: missing })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PythonError);
    expect(error).toMatchObject({ pythonType: 'QuantizationError', file: missing });
  });
});

/** An opset-7 MLP classifier as older exporters wrote it: batch axis fixed at 1, softmax output, no distillery metadata. */
const FOREIGN_MODEL_SCRIPT = `
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(0)
weights = [numpy_helper.from_array(rng.normal(size=shape).astype(np.float32), name)
           for name, shape in [("w1", (6, 8)), ("b1", (8,)), ("w2", (8, 3)), ("b2", (3,))]]
nodes = [helper.make_node("Gemm", ["x", "w1", "b1"], ["h"]), helper.make_node("Relu", ["h"], ["r"]),
         helper.make_node("Gemm", ["r", "w2", "b2"], ["logits"]), helper.make_node("Softmax", ["logits"], ["probs"])]
graph = helper.make_graph(nodes, "foreign", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 6])],
                          [helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 3])], weights)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 7)])
model.ir_version = 4
onnx.checker.check_model(model)
onnx.save(model, sys.argv[1])
`;

describe('distillery quantize on a foreign classifier whose batch axis is fixed at 1', () => {
  let folder: string;
  let model: string;
  const variantFiles = (): string[] =>
    fs
      .readdirSync(folder)
      .filter((name) => name !== 'foreign.onnx' && !name.endsWith('.npy'))
      .sort();
  beforeAll(async () => {
    folder = tempDir('quantize-foreign');
    model = path.join(folder, 'foreign.onnx');
    const made = spawnSync(await resolveInterpreter(), ['-c', FOREIGN_MODEL_SCRIPT, model], { encoding: 'utf8' });
    if (made.status !== 0) throw new Error(`building the foreign model failed: ${made.stderr}`);
  });

  test('--data: int8-static calibrates in batches of 1, every variant is written, and one no smaller than fp32 is said so', () => {
    const calibration = path.join(folder, 'calib.npy');
    fs.writeFileSync(
      calibration,
      npyBytes(
        Float32Array.from({ length: 100 * 6 }, (_, i) => Math.sin(i)),
        [100, 6],
      ),
    );
    const json = cli(['quantize', model, '--data', calibration, '--json']);
    expect(json.stderr).toBe('');
    expect(json.status).toBe(0);
    const results = JSON.parse(json.stdout) as {
      method: string;
      path: string;
      sizeRatio: number;
      calibrationRows: number | null;
      notSmaller: boolean;
    }[];
    expect(results.map((r) => [r.method, r.path, r.calibrationRows])).toEqual([
      ['int8-dynamic', path.join(folder, 'foreign.int8-dynamic.onnx'), null],
      ['int8-static', path.join(folder, 'foreign.int8-static.onnx'), 100],
      ['fp16', path.join(folder, 'foreign.fp16.onnx'), null],
    ]);
    for (const r of results) expect(r.notSmaller).toBe(r.sizeRatio >= 1);
    // a 6-8-3 network: the fp16 converter's Cast nodes and the metadata outweigh the 51 weights it halves
    const fp16 = results.find((r) => r.method === 'fp16');
    expect(fp16?.notSmaller).toBe(true);
    expect(variantFiles()).toEqual(['foreign.fp16.onnx', 'foreign.int8-dynamic.onnx', 'foreign.int8-static.onnx']);

    const table = cli(['quantize', model, '--data', calibration, '--method', 'fp16']);
    expect(table.status).toBe(0);
    expect(table.stdout).toContain(`${fp16?.sizeRatio.toFixed(3) ?? ''} (not smaller)`);
    expect(table.stdout).toContain(`note: fp16: ${fp16?.sizeRatio.toFixed(2) ?? ''}× the fp32 size — not smaller (`);
  });

  test('a variant that fails leaves none written, and no temporaries', () => {
    for (const name of variantFiles()) fs.rmSync(path.join(folder, name));
    const wrong = path.join(folder, 'wrong.npy');
    fs.writeFileSync(wrong, npyBytes(new Float32Array(5 * 4), [5, 4]));
    // int8-dynamic and fp16 succeed first; int8-static's calibration data does not fit the model
    const failed = cli(['quantize', model, '--data', wrong, '--method', 'int8-dynamic,fp16,int8-static']);
    expect(failed.status).toBe(1);
    expect(failed.stderr).toContain(
      `calibration data ${wrong}: expected rows of shape [N, 6] (6 values each), got an array of shape [5, 4]`,
    );
    expect(variantFiles()).toEqual([]);
  });
});

describe('writing variants all or none, and saying when one is not smaller', () => {
  test('variantDestination names a variant as the engine does', () => {
    expect(variantDestination('/runs/demo/soft.onnx', 'int8-static')).toBe('/runs/demo/soft.int8-static.onnx');
    expect(variantDestination('/runs/demo/model', 'fp16')).toBe('/runs/demo/model.fp16.onnx');
  });

  test('makeAllOrNone moves every file into place once all are made, and none when one fails', async () => {
    const folder = tempDir('all-or-none');
    const destinations = ['a', 'b', 'c'].map((name) => path.join(folder, `${name}.onnx`));
    const made = await makeAllOrNone(
      destinations.map((destination) => ({
        destination,
        make: (staging: string) => {
          fs.writeFileSync(staging, path.basename(staging));
          return Promise.resolve({ path: staging, size: 1 });
        },
      })),
    );
    expect(made).toEqual(destinations.map((file) => ({ path: file, size: 1 })));
    expect(destinations.map((file) => fs.readFileSync(file, 'utf8'))).toEqual(['a.onnx', 'b.onnx', 'c.onnx']);

    const others = ['x', 'y', 'z'].map((name) => path.join(folder, `${name}.onnx`));
    const failing = makeAllOrNone(
      others.map((destination, index) => ({
        destination,
        make: (staging: string) => {
          fs.writeFileSync(staging, 'partial');
          return index === 2 ? Promise.reject(new Error('the third one failed')) : Promise.resolve({ path: staging });
        },
      })),
    );
    await expect(failing).rejects.toThrow('the third one failed');
    expect(fs.readdirSync(folder).sort()).toEqual(['a.onnx', 'b.onnx', 'c.onnx']); // no x, y, z; no staging folder
  });

  test('notSmallerNote says why for a variant at least as large as fp32, nothing for a smaller one', () => {
    expect(notSmallerNote('int8-dynamic', 0.26)).toBeNull();
    expect(notSmallerNote('fp16', 1.05)).toMatch(/^fp16: 1\.05× the fp32 size — not smaller \(.*Cast nodes.*\)$/);
  });

  test('report.md marks a variant that is not smaller in the table and says why under it', () => {
    const test = { n: 10, accuracy: 0.9, errors: 1, nll: 0.3, ece: 0.01, topK: { k: 5, accuracy: 1 } };
    const variant = (method: 'fp16' | 'int8-dynamic', sizeRatio: number) => ({
      name: `s.${method}`,
      method,
      onnx: `s.${method}.onnx`,
      sizeBytes: 10,
      sizeRatio,
      notSmaller: sizeRatio >= 1,
      calibrationRows: null,
      test,
      accuracyDropPoints: 0,
      guard: null,
      latency: null,
      rejected: false,
    });
    const student = {
      name: 's',
      variants: [variant('int8-dynamic', 0.3), variant('fp16', 1.05)],
    } as unknown as ModelReport;
    const markdown = variantsMarkdown([student], undefined).join('\n');
    expect(markdown).toContain('| s.fp16 | 0.00 MB | 1.050 (not smaller) |');
    expect(markdown).toContain('| s.int8-dynamic | 0.00 MB | 0.300 |');
    expect(markdown).toContain('**Not smaller:** s.fp16: 1.05× the fp32 size — not smaller (');
    expect(markdown).not.toContain('**Not smaller:** s.int8-dynamic');
  });
});
