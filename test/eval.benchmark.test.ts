/**
 * benchmark() times what a caller sends: a text model is timed on texts (its tokenizer in the timings), never on the
 * synthetic floats that would be token id 0 (pad) — an empty text. A fake Predictor records what reaches predict and
 * predictBatch; run() reads the rows it times a text model on from data.test, with that source's own options.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ExperimentConfig } from '../src/config/schema';
import { benchmark } from '../src/eval';
import { latenciesSideBySide, timedRows, TIMED_TEST_ROWS } from '../src/experiment/latency';
import type { OnnxModel } from '../src/runtime/model';
import type { Batch, ModelInfo, ModelInput, Prediction, Predictor, TokenizerInfo } from '../src/runtime/types';
import { InputValidationError } from '../src/runtime';
import { reviews } from './support/reviews';
import { tempDir } from './support/tiny';

const TOKENIZER: TokenizerInfo = {
  column: 'review',
  kind: 'wordpiece',
  vocabSize: 300,
  maxLength: 24,
  truncation: 'right',
  sha256: '0'.repeat(64),
};

function info(tokenizer: TokenizerInfo | null): ModelInfo {
  return {
    file: '/fake.onnx',
    name: tokenizer ? 'bag' : 'mlp',
    role: 'student',
    task: 'classification',
    input: { name: 'x', shape: [tokenizer ? tokenizer.maxLength : 4], dtype: 'float32' },
    output: { name: 'logits', kind: 'logits', size: 2 },
    normalization: null,
    normalizationInGraph: false,
    quantization: null,
    labels: ['neg', 'pos'],
    model: null,
    method: null,
    teacher: null,
    training: null,
    metrics: null,
    params: null,
    flopsPerSample: null,
    preprocess: null,
    tokenizer,
    version: null,
    fixedBatchSize: null,
    unknown: [],
  };
}

const PREDICTION: Prediction = {
  task: 'classification',
  label: 'neg',
  index: 0,
  probabilities: [1, 0],
  logits: [0, 0],
};

/** A Predictor that records every input it is given. */
class Recorder implements Predictor {
  readonly single: ModelInput[] = [];
  readonly batches: Batch[] = [];
  constructor(readonly info: ModelInfo) {}
  predict(input: ModelInput): Promise<Prediction> {
    this.single.push(input);
    return Promise.resolve(PREDICTION);
  }
  predictBatch(samples: Batch): Promise<Prediction[]> {
    this.batches.push(samples);
    return Promise.resolve(Array.from({ length: samples.length }, () => PREDICTION));
  }
}

const quick = { warmup: 2, iterations: 7, minTimeMs: 0 } as const;

describe('benchmark on a text model', () => {
  test('without samples it is refused, naming options.samples, before anything is predicted', async () => {
    const model = new Recorder(info(TOKENIZER));
    const refused = benchmark(model, quick);
    await expect(refused).rejects.toBeInstanceOf(InputValidationError);
    await expect(refused).rejects.toMatchObject({ field: 'options.samples' });
    await expect(refused).rejects.toThrow(/text model/);
    expect(model.single).toHaveLength(0);
    expect(model.batches).toHaveLength(0);
  });

  test('the samples reach predict one by one and predictBatch in batches, in turn, wrapping around', async () => {
    const texts = ['a fine film', 'dull', 'loved the cast and the music', 'awful ending', 'charming'];
    const model = new Recorder(info(TOKENIZER));
    const report = await benchmark(model, { ...quick, samples: texts, batchSizes: [2, 8] });
    expect(report.latency.runs).toBe(7);
    // 2 warm-up runs, then 7 timed ones, each counting from the first text
    expect(model.single).toEqual([...texts.slice(0, 2), ...texts, ...texts.slice(0, 2)]);
    expect(model.single.every((input) => typeof input === 'string')).toBe(true);
    const [first, ...rest] = model.batches;
    expect(first).toEqual(['a fine film', 'dull']);
    // batch size 2: [t0 t1] [t2 t3] [t4 t0], in turn; batch size 8: the five texts and the first three again
    const twos = model.batches.filter((batch) => batch.length === 2);
    const eights = model.batches.filter((batch) => batch.length === 8);
    expect(twos.length + eights.length).toBe(1 + rest.length);
    expect(twos.slice(2, 5)).toEqual([
      ['a fine film', 'dull'],
      ['loved the cast and the music', 'awful ending'],
      ['charming', 'a fine film'],
    ]);
    expect(new Set(eights.map((batch) => JSON.stringify(batch)))).toEqual(
      new Set([JSON.stringify([...texts, ...texts.slice(0, 3)])]),
    );
    expect(report.throughput.map((result) => result.batchSize)).toEqual([2, 8]);
  });

  test('rows of a mixed table are sent as they are', async () => {
    const rows = [
      { review: 'great', stars: 5 },
      { review: 'poor', stars: 1 },
    ];
    const model = new Recorder(info(TOKENIZER));
    await benchmark(model, { ...quick, samples: rows, batchSizes: [3] });
    expect(model.single[0]).toBe(rows[0]);
    expect(model.batches[0]).toEqual([rows[0], rows[1], rows[0]]);
  });

  test('empty or non-array samples are refused', async () => {
    const model = new Recorder(info(TOKENIZER));
    await expect(benchmark(model, { ...quick, samples: [] })).rejects.toMatchObject({ field: 'options.samples' });
    await expect(
      benchmark(model, { ...quick, samples: 'just one text' as unknown as ModelInput[] }),
    ).rejects.toMatchObject({ field: 'options.samples' });
  });

  test('a model without a tokenizer is still timed on synthetic values when given no samples', async () => {
    const model = new Recorder(info(null));
    await benchmark(model, { ...quick, batchSizes: [3] });
    expect(model.single[0]).toBeInstanceOf(Float32Array);
    expect((model.single[0] as Float32Array).length).toBe(4);
    expect(model.batches[0]).toBeInstanceOf(Float32Array);
    expect((model.batches[0] as Float32Array).length).toBe(12);
  });
});

describe("run()'s timing of text models", () => {
  const folder = tempDir('bench-rows');
  const rows = reviews({ rows: 300, seed: 3 });
  // a ';'-separated CSV: read with data.test's own delimiter, as run() reads it
  const file = path.join(folder, 'test.csv');
  const cell = (text: string): string => (/[";\n\r]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  fs.writeFileSync(file, ['label;review', ...rows.map((row) => `${row.label};${cell(row.review)}`)].join('\n') + '\n');
  const config = (test: Record<string, unknown>): ExperimentConfig =>
    ({
      data: {
        test: { type: 'csv', path: file, format: 'auto', encoding: 'utf-8', delimiter: ';', offset: 0, ...test },
      },
    }) as unknown as ExperimentConfig;
  const text = new Recorder(info(TOKENIZER)) as unknown as OnnxModel;
  const plain = new Recorder(info(null)) as unknown as OnnxModel;

  test('data.test is read raw, from its offset, at most a batch of rows', async () => {
    const timed = await timedRows(config({ offset: 10 }), [plain, text]);
    expect(timed).toHaveLength(TIMED_TEST_ROWS);
    expect(timed?.[0]).toEqual({ review: rows[10]?.review, label: rows[10]?.label });
    expect(timed?.[TIMED_TEST_ROWS - 1]).toEqual({ review: rows[265]?.review, label: rows[265]?.label });
    expect(await timedRows(config({ limit: 5 }), [text])).toHaveLength(5);
  });

  test('no text model, no rows: the others keep their synthetic inputs', async () => {
    expect(await timedRows(config({}), [plain])).toBeNull();
  });

  test('latenciesSideBySide sends the rows to the text model', async () => {
    const timed = await timedRows(config({ limit: 3 }), [text]);
    await latenciesSideBySide([text, plain], timed, 1);
    const recorded = text as unknown as Recorder;
    expect(recorded.single.length).toBeGreaterThan(0);
    expect(recorded.single.every((input) => timed?.includes(input))).toBe(true);
    expect((recorded.batches[0] as ModelInput[]).slice(0, 4)).toEqual([...(timed ?? []), timed?.[0]]);
    expect((plain as unknown as Recorder).single[0]).toBeInstanceOf(Float32Array);
  });
});
