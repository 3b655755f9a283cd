/** The runtime's pure parts, on synthetic inputs: shapes, normalisation, softmax, metadata, chunking. */
import type { InferenceSession } from 'onnxruntime-node';
import { describeModel, planBatch } from '../src/runtime/describe';

import { ModelLoadError } from '../src/runtime/errors';
import { describeValue, InputValidationError } from '../src/core/errors';
import { InputPreparer, normalizationProblem } from '../src/runtime/input';
import type { GraphFacts, ValueFacts } from '../src/runtime/model-file';
import { argmax, softmax, toPrediction } from '../src/runtime/postprocess';
import type { RunPlan } from '../src/runtime/run';
import { runRows } from '../src/runtime/session';

/** A model source as Node names it: the path as given, its absolute form, its stem. */
const source = (file: string) => ({ file, location: file, stem: file.replace(/^.*\//, '').replace(/\.onnx$/, '') });

const input = (dims: ValueFacts['dims'], name = 'x'): ValueFacts => ({ name, elemType: 1, dims });

describe('planBatch relates the sample shape to the graph input', () => {
  test('a symbolic first axis is a dynamic batch', () => {
    expect(planBatch('m.onnx', input([null, 784]), undefined)).toEqual({
      sampleShape: [784],
      shapeSettled: true,
      tensorSampleDims: [784],
      batchAxis: true,
      fixedBatchSize: null,
    });
  });

  test('NCHW with a fixed batch of 1: the first axis is taken as the batch, but flagged as a guess', () => {
    expect(planBatch('m.onnx', input([1, 1, 28, 28]), undefined)).toEqual({
      sampleShape: [1, 28, 28],
      shapeSettled: false,
      tensorSampleDims: [1, 28, 28],
      batchAxis: true,
      fixedBatchSize: 1,
    });
  });

  test('[1, 28, 28] read as a whole sample (no batch axis) when the caller says so', () => {
    expect(planBatch('m.onnx', input([1, 28, 28]), [1, 28, 28])).toMatchObject({
      batchAxis: false,
      fixedBatchSize: 1,
      tensorSampleDims: [1, 28, 28],
    });
  });

  test('a flat sample shape for an image input keeps the graph dims for the tensor', () => {
    expect(planBatch('m.onnx', input([null, 1, 28, 28]), [784])).toMatchObject({
      sampleShape: [784],
      tensorSampleDims: [1, 28, 28],
      batchAxis: true,
    });
  });

  test('unknown inner dims need options.sampleShape', () => {
    expect(() => planBatch('m.onnx', input([null, null]), undefined)).toThrow(
      /cannot tell the sample shape of input x \(\[\?, \?\]\); pass options.sampleShape/,
    );
    expect(planBatch('m.onnx', input([null, null]), [7])).toMatchObject({ sampleShape: [7], tensorSampleDims: [7] });
  });

  test('a shape that cannot fit is a ModelLoadError', () => {
    expect(() => planBatch('m.onnx', input([null, 4]), [5])).toThrow(ModelLoadError);
    expect(() => planBatch('m.onnx', input([null, 4, null]), [5, 2])).toThrow(/does not fit/);
  });
});

describe('describeModel', () => {
  const facts = (metadata: Record<string, string>, extra: Partial<GraphFacts> = {}): GraphFacts => ({
    inputs: [input([null, 2], 'input')],
    outputs: [input([null, 3], 'logits')],
    producers: new Map(),
    floatParams: 9,
    metadata: new Map(Object.entries(metadata)),
    ...extra,
  });

  test('with no metadata, everything not in the graph is unknown', () => {
    const { info, plan } = describeModel(source('/models/foreign.onnx'), facts({}), {});
    expect(info).toMatchObject({
      name: 'foreign',
      task: 'classification',
      output: { kind: 'logits', size: 3 },
      params: 9,
    });
    expect(info.unknown).toEqual(
      expect.arrayContaining(['task', 'output.kind', 'normalization', 'labels', 'name', 'version']),
    );
    expect(plan).toEqual({
      inputName: 'input',
      outputName: 'logits',
      features: 2,
      tensorSampleDims: [2],
      batchAxis: true,
      fixedBatchSize: null,
    });
  });

  test('several inputs need options.inputName; several outputs are a guess', () => {
    const two = facts({}, { inputs: [input([null, 2], 'a'), input([null, 2], 'b')] });
    expect(() => describeModel(source('m.onnx'), two, {})).toThrow(/several inputs \(a, b\); pass options.inputName/);
    expect(describeModel(source('m.onnx'), two, { inputName: 'b' }).info.input.name).toBe('b');
    const outputs = facts({}, { outputs: [input([null, 3], 'logits'), input([null, 3], 'probs')] });
    expect(describeModel(source('m.onnx'), outputs, {}).info.unknown).toContain('output.name');
  });

  test.each([
    ['distillery.input', '{not json', /distillery.input is not valid JSON/],
    ['distillery.input', '{"name": "input", "shape": [0]}', /distillery.input at shape.0/],
    ['distillery.role', 'trainer', /distillery.role/],
    ['distillery.params', '12.5', /distillery.params: expected a decimal integer/],
    [
      'distillery.normalization',
      '{"mean": [1, 2, 3], "std": [1, 1, 1]}',
      /distillery.normalization: 3 values do not fit sample shape \[2\]/,
    ],
    ['distillery.labels', '["a", "b"]', /distillery.labels: 2 labels for an output of 3 values/],
  ])('malformed %s is an invalid-metadata error', (key, value, message) => {
    const error: unknown = (() => {
      try {
        describeModel(source('m.onnx'), facts({ [key]: value }), {});
        return null;
      } catch (caught) {
        return caught;
      }
    })();
    expect(error).toBeInstanceOf(ModelLoadError);
    expect(error).toMatchObject({ reason: 'invalid-metadata', file: 'm.onnx' });
    expect((error as Error).message).toMatch(message);
  });

  test('options override broken or present metadata', () => {
    const { info } = describeModel(
      source('m.onnx'),
      facts({ 'distillery.labels': '["a"]', 'distillery.normalization': '{"mean":[1],"std":[2]}' }),
      {
        labels: ['x', 'y', 'z'],
        normalization: null,
      },
    );
    expect(info.labels).toEqual(['x', 'y', 'z']);
    expect(info.normalization).toBeNull();
    expect(info.unknown).not.toContain('normalization');
  });

  test('task and output kind must agree', () => {
    const meta = { 'distillery.task': 'regression', 'distillery.output': '{"name": "logits", "kind": "logits"}' };
    expect(() => describeModel(source('m.onnx'), facts(meta), {})).toThrow(
      /task is regression but the output kind is logits/,
    );
  });

  test('a Softmax producing the output means probabilities', () => {
    const { info } = describeModel(source('m.onnx'), facts({}, { producers: new Map([['logits', 'Softmax']]) }), {});
    expect(info.output.kind).toBe('probabilities');
    expect(info.unknown).not.toContain('output.kind');
    expect(info.unknown).not.toContain('task');
  });
});

describe('normalisation', () => {
  test('accepted lengths: 1, channels, features', () => {
    const shape = [2, 3];
    expect(normalizationProblem({ mean: [1], std: [2] }, shape)).toBeNull();
    expect(normalizationProblem({ mean: [1, 2], std: [2, 3] }, shape)).toBeNull();
    expect(normalizationProblem({ mean: [1, 2, 3, 4, 5, 6], std: [1, 1, 1, 1, 1, 1] }, shape)).toBeNull();
    expect(normalizationProblem({ mean: [1, 2, 3], std: [1, 1, 1] }, shape)).toMatch(/3 values do not fit/);
    expect(normalizationProblem({ mean: [1, 2], std: [1] }, shape)).toMatch(/mean has 2 values but std has 1/);
    expect(normalizationProblem({ mean: [1], std: [0] }, shape)).toMatch(/std non-zero/);
  });

  test('per channel of a [C, ...] sample, in every input form', () => {
    const preparer = new InputPreparer([2, 3], { mean: [1, 10], std: [2, 5] });
    const want = [0, 0.5, 1, 0, 1, 2];
    expect(
      Array.from(
        preparer.sample([
          [1, 2, 3],
          [10, 15, 20],
        ]),
      ),
    ).toEqual(want);
    expect(Array.from(preparer.sample([1, 2, 3, 10, 15, 20]))).toEqual(want);
    expect(Array.from(preparer.batch(Float64Array.of(1, 2, 3, 10, 15, 20, 1, 2, 3, 10, 15, 20)).data)).toEqual([
      ...want,
      ...want,
    ]);
  });

  test('one scalar for every feature; null leaves values as they are', () => {
    expect(
      Array.from(new InputPreparer([3], { mean: [127.5], std: [127.5] }).sample(Uint8Array.of(0, 255, 127.5))),
    ).toEqual([-1, 1, Math.fround(-1 / 255)]);
    expect(Array.from(new InputPreparer([2], null).sample([0.25, -3]))).toEqual([0.25, -3]);
  });
});

describe('softmax and predictions', () => {
  test('softmax is stable for large logits and computed in float64', () => {
    const p = softmax([1000, 1001]);
    expect(p[0]).toBeCloseTo(1 / (1 + Math.E), 15);
    expect(p[1]).toBeCloseTo(Math.E / (1 + Math.E), 15);
    expect(softmax([-1e308, 0])).toEqual([0, 1]);
  });

  test('argmax takes the first of equal values', () => {
    expect(argmax([0.2, 0.4, 0.4])).toBe(1);
  });

  test('prediction shapes by task and output kind', () => {
    expect(toPrediction([0, 0], { task: 'classification', kind: 'logits', labels: ['a', 'b'] })).toEqual({
      task: 'classification',
      label: 'a',
      index: 0,
      probabilities: [0.5, 0.5],
      logits: [0, 0],
    });
    expect(toPrediction([0.1, 0.9], { task: 'classification', kind: 'probabilities', labels: null })).toEqual({
      task: 'classification',
      label: '1',
      index: 1,
      probabilities: [0.1, 0.9],
      logits: null,
    });
    expect(toPrediction([1.5], { task: 'regression', kind: 'values', labels: null })).toEqual({
      task: 'regression',
      values: [1.5],
    });
  });
});

describe('runRows chunks for fixed batch sizes', () => {
  /** A stand-in session: sums each row, records the dims it was given. */
  function summingSession(calls: number[][]): InferenceSession {
    const run = (
      feeds: Record<string, { data: Float32Array; dims: readonly number[] }>,
    ): Promise<Record<string, unknown>> => {
      const tensor = feeds.x;
      if (!tensor) return Promise.reject(new Error('no input'));
      calls.push([...tensor.dims]);
      const rows = tensor.dims[0] ?? 1;
      const width = tensor.data.length / rows;
      const sums = Float32Array.from({ length: rows }, (_, r) =>
        tensor.data.subarray(r * width, (r + 1) * width).reduce((a, b) => a + b, 0),
      );
      return Promise.resolve({ y: { type: 'float32', data: sums } });
    };
    return { run } as unknown as InferenceSession;
  }
  const plan = (fixedBatchSize: number | null, batchAxis = true): RunPlan => ({
    inputName: 'x',
    outputName: 'y',
    features: 2,
    tensorSampleDims: [2],
    batchAxis,
    fixedBatchSize,
  });
  const rows = Float32Array.of(1, 1, 2, 2, 3, 3, 4, 4, 5, 5);

  test('dynamic: one run', async () => {
    const calls: number[][] = [];
    expect(Array.from((await runRows(summingSession(calls), plan(null), rows, 5)).data)).toEqual([2, 4, 6, 8, 10]);
    expect(calls).toEqual([[5, 2]]);
  });

  test('fixed batch of 2: three runs, the last one zero-padded and trimmed', async () => {
    const calls: number[][] = [];
    const output = await runRows(summingSession(calls), plan(2), rows, 5);
    expect(Array.from(output.data)).toEqual([2, 4, 6, 8, 10]);
    expect(output.width).toBe(1);
    expect(calls).toEqual([
      [2, 2],
      [2, 2],
      [2, 2],
    ]);
  });

  test('fixed batch of 1: row by row', async () => {
    const calls: number[][] = [];
    await runRows(summingSession(calls), plan(1), rows, 5);
    expect(calls).toHaveLength(5);
  });
});

test('describeValue says what a value is without dumping it', () => {
  expect(describeValue(NaN)).toBe('NaN');
  expect(describeValue('x'.repeat(30))).toBe(`string "${'x'.repeat(20)}…"`);
  expect(describeValue([1, 2])).toBe('an array of length 2');
  expect(describeValue(new Float32Array(3))).toBe('a Float32Array of length 3');
  expect(describeValue({})).toBe('an object (Object)');
  expect(new InputValidationError('a.b', 'x', 'y').message).toBe('a.b: expected x, received y');
});
