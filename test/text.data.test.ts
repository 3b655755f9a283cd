/**
 * A table's text column in the data layer (src/data/text.ts, table.ts, table-store.ts): declared or inferred (and then
 * announced), placed last, tokenized into maxLength slots; the bad inputs of issue 27 — empty and whitespace texts,
 * invalid UTF-8 (file and line), a text column missing from a row or a file, two text columns, a tokenizer.json that is
 * not one. These use a hand-written tokenizer.json (`tokenizer: {file}`), so no Python runs here; fitting one through
 * the engine is tested in test/text.e2e.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, parseExperiment } from '../src/config';
import { prepareData } from '../src/data';
import type { Engine } from '../src/engine';
import { withOnDemandEngine } from '../src/engine/on-demand';
import { readTableFile, tableDataset } from '../src/data/table';
import { DatasetError, loadDataset, type Dataset } from '../src/eval/dataset';
import type { TablePreprocessSpec } from '../src/preprocess/spec';
import { reviews, reviewsCsv, reviewsJsonl, tinyTokenizerJson, writeReviews } from './support/reviews';
import { tempDir } from './support/tiny';

const folder = tempDir('text-data');
const tokenizerFile = path.join(folder, 'tokenizer.json');
fs.writeFileSync(tokenizerFile, tinyTokenizerJson());

const noEngine = (): never => {
  throw new Error('these tests fit no tokenizer: the engine must not be asked for');
};

function dataOf(train: Record<string, unknown>, test: Record<string, unknown> = {}) {
  return parseExperiment({
    data: {
      train: { type: 'csv', label: 'label', text: { tokenizer: { file: tokenizerFile } }, ...train },
      test: { type: 'csv', ...test },
    },
    teacher: { type: 'train', model: { type: 'mlp' } },
    students: [{ name: 's', model: { type: 'mlp' }, method: { type: 'hard-labels' } }],
  }).data;
}

function write(name: string, contents: string | Buffer): string {
  const file = path.join(folder, name);
  fs.writeFileSync(file, contents);
  return file;
}

async function prepare(train: Record<string, unknown>, test: Record<string, unknown>) {
  return prepareData(dataOf(train, test), tempDir('text-run'), { engine: noEngine });
}

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => new Error('expected a failure'),
    (error: unknown) => error,
  );
}

const rowOf = (dataset: Dataset, index: number): number[] => {
  const width = dataset.sampleShape[0]!;
  return Array.from(dataset.x.subarray(index * width, (index + 1) * width));
};

describe('a text column', () => {
  const train = write('train.csv', reviewsCsv(reviews({ rows: 200, seed: 1 })));
  const testFile = write('test.csv', reviewsCsv(reviews({ rows: 60, seed: 2 })));

  test('is inferred from free text, announced in a note, and tokenized into maxLength slots', async () => {
    const prepared = await prepare(
      { path: train, text: { tokenizer: { file: tokenizerFile }, maxLength: 32 } },
      {
        path: testFile,
      },
    );
    const spec = prepared.data.preprocess as TablePreprocessSpec;
    const sha = (spec.columns[0] as { tokenizerSha256: string }).tokenizerSha256;
    expect(spec.columns).toEqual([
      {
        name: 'review',
        type: 'text',
        maxLength: 32,
        truncation: 'right',
        padId: 0,
        vocabSize: expect.any(Number),
        tokenizerSha256: sha,
      },
    ]);
    expect(prepared.summary.notes).toHaveLength(1);
    expect(prepared.summary.notes![0]).toMatch(
      /data\.train: column "review" read as text \(its cells average [\d.]+ words/,
    );
    expect(prepared.summary.notes![0]).toContain("declare data.train.columns.review: 'categorical'");
    const text = prepared.summary.text!;
    expect(text).toMatchObject({
      column: 'review',
      inferred: true,
      tokenizer: 'file',
      tokenizerFile: 'data/tokenizer.json',
      maxLength: 32,
    });
    expect(text.emptyTexts).toEqual({ train: 0, test: 0 });
    expect(text.truncated).toEqual({ train: 0, test: 0 });
    // The tokenizer travels with the engine's data: the user's file, copied byte for byte into the run folder.
    const copied = (prepared.data as { tokenizerFile?: string }).tokenizerFile!;
    expect(fs.readFileSync(copied)).toEqual(fs.readFileSync(tokenizerFile));
    const arrays = await loadDataset((prepared.data.train as { path: string }).path);
    expect(arrays.sampleShape).toEqual([32]);
    const first = rowOf(arrays, 0);
    expect(first.every((id) => Number.isInteger(id) && id >= 0 && id < text.vocabSize)).toBe(true);
    expect(first[first.length - 1]).toBe(0); // right-padded with [PAD]
  });

  test('mixed with other columns, it comes last whatever the order of features, and the fixed slots come first', async () => {
    const mixed = write('mixed.csv', reviewsCsv(reviews({ rows: 120, seed: 3, mixed: true })));
    const prepared = await prepare(
      {
        path: mixed,
        features: ['review', 'stars'],
        columns: { review: 'text' },
        text: { tokenizer: { file: tokenizerFile }, maxLength: 8 },
      },
      { path: mixed },
    );
    const spec = prepared.data.preprocess as TablePreprocessSpec;
    expect(spec.columns.map((column) => [column.name, column.type])).toEqual([
      ['stars', 'numeric'],
      ['review', 'text'],
    ]);
    expect(prepared.summary.notes).toBeUndefined(); // declared: nothing to announce
    expect(prepared.summary.text?.inferred).toBe(false);
    const arrays = await loadDataset((prepared.data.train as { path: string }).path);
    expect(arrays.sampleShape).toEqual([1 + 8]);
    const rows = reviews({ rows: 120, seed: 3, mixed: true });
    expect(rowOf(arrays, 0)[0]).toBe(rows[0]!.stars);
  });

  test('JSON lines read the same as CSV', async () => {
    const rows = reviews({ rows: 80, seed: 4 });
    const csv = await prepare(
      { path: write('same.csv', reviewsCsv(rows)) },
      { path: write('same-test.csv', reviewsCsv(rows)) },
    );
    const jsonl = await prepare(
      { path: write('same.jsonl', reviewsJsonl(rows)) },
      { path: write('same-test.jsonl', reviewsJsonl(rows)) },
    );
    const a = await loadDataset((csv.data.train as { path: string }).path);
    const b = await loadDataset((jsonl.data.train as { path: string }).path);
    expect(Array.from(b.x)).toEqual(Array.from(a.x));
  });

  test('a short repeated string column stays categorical; declaring a text-like column categorical keeps it so', async () => {
    const lines = ['city,label'];
    const cityNames = ['New York City', 'Los Angeles California', 'San Francisco Bay'];
    for (let i = 0; i < 60; i++) lines.push(`${cityNames[i % 3]!},${i % 2}`);
    const cities = write('cities.csv', lines.join('\n') + '\n');
    const prepared = await prepare({ path: cities }, { path: cities });
    expect((prepared.data.preprocess as TablePreprocessSpec).columns[0]!.type).toBe('categorical');
    const kept = await prepare({ path: train, columns: { review: 'categorical' } }, { path: testFile });
    expect((kept.data.preprocess as TablePreprocessSpec).columns[0]!.type).toBe('categorical');
    expect(kept.summary.text).toBeUndefined();
  });

  test('an empty, whitespace-only or missing text is all padding, counted in the summary, not an error', async () => {
    const lines = ['review,label', 'great film,pos', ',neg', '"   ",pos', 'awful plot and dull acting,neg'];
    const file = write('empties.csv', lines.join('\n') + '\n');
    const jsonl = write(
      'empties.jsonl',
      [
        JSON.stringify({ review: 'superb cast', label: 'pos' }),
        JSON.stringify({ label: 'neg' }),
        JSON.stringify({ review: null, label: 'pos' }),
        JSON.stringify({ review: '\t \n', label: 'neg' }),
      ].join('\n') + '\n',
    );
    const prepared = await prepare(
      { path: file, columns: { review: 'text' }, text: { tokenizer: { file: tokenizerFile }, maxLength: 4 } },
      { path: jsonl },
    );
    expect(prepared.summary.text?.emptyTexts).toEqual({ train: 2, test: 3 });
    const arrays = await loadDataset((prepared.data.test as { path: string }).path);
    for (const row of [1, 2, 3]) expect(rowOf(arrays, row)).toEqual([0, 0, 0, 0]);
    expect(rowOf(arrays, 0).filter((id) => id !== 0)).toHaveLength(2);
  });

  test('a text longer than maxLength is cut on the side asked for, and counted', async () => {
    const lines = ['review,label', 'great film and superb cast,pos', 'awful plot,neg'];
    const file = write('long.csv', lines.join('\n') + '\n');
    const right = await prepare(
      { path: file, columns: { review: 'text' }, text: { tokenizer: { file: tokenizerFile }, maxLength: 3 } },
      { path: file },
    );
    const left = await prepare(
      {
        path: file,
        columns: { review: 'text' },
        text: { tokenizer: { file: tokenizerFile }, maxLength: 3, truncation: 'left' },
      },
      { path: file },
    );
    expect(right.summary.text?.truncated).toEqual({ train: 1, test: 1 });
    const r = rowOf(await loadDataset((right.data.train as { path: string }).path), 0);
    const l = rowOf(await loadDataset((left.data.train as { path: string }).path), 0);
    const full = rowOf(
      await loadDataset(
        (
          (
            await prepare(
              { path: file, columns: { review: 'text' }, text: { tokenizer: { file: tokenizerFile }, maxLength: 5 } },
              { path: file },
            )
          ).data.train as { path: string }
        ).path,
      ),
      0,
    );
    expect(r).toEqual(full.slice(0, 3));
    expect(l).toEqual(full.slice(2));
  });

  test('an inferred column of more distinct texts than codes hold is read as text', async () => {
    const lines = ['review,label'];
    for (let i = 0; i < 66_000; i++)
      lines.push(`review number ${i} was ${i % 2 ? 'great' : 'awful'},${i % 2 ? 'pos' : 'neg'}`);
    const file = write('many.csv', lines.join('\n') + '\n');
    const prepared = await prepare(
      { path: file, text: { tokenizer: { file: tokenizerFile }, maxLength: 6 } },
      { path: testFile },
    );
    expect(prepared.summary.text?.inferred).toBe(true);
    expect(prepared.summary.rows.train).toBe(66_000);
  }, 60_000);
});

describe('bad text input', () => {
  const good = reviewsCsv(reviews({ rows: 40, seed: 5 }));

  test('invalid UTF-8 is an error naming the file and the line (CSV and JSON lines)', async () => {
    const lines = good.split('\n');
    const bytes = Buffer.concat([
      Buffer.from(lines.slice(0, 6).join('\n') + '\nthe caf'),
      Buffer.from([0xe9]), // Latin-1 é
      Buffer.from(' was great,pos\n' + lines.slice(6).join('\n')),
    ]);
    const file = write('latin1.csv', bytes);
    const error = await failure(prepare({ path: file, columns: { review: 'text' } }, { path: file }));
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).message).toContain(`${file}:7`);
    expect((error as DatasetError).line).toBe(7);
    expect((error as DatasetError).message).toContain('not valid UTF-8');
    const jsonl = write(
      'latin1.jsonl',
      Buffer.concat([
        Buffer.from('{"review": "fine", "label": "pos"}\n{"review": "caf'),
        Buffer.from([0xe9]),
        Buffer.from('", "label": "neg"}\n'),
      ]),
    );
    const fromJsonl = await failure(prepare({ path: jsonl, columns: { review: 'text' } }, { path: jsonl }));
    expect((fromJsonl as DatasetError).line).toBe(2);
  });

  test('a split without the text column is an error; a row without it is an empty text', async () => {
    const train = write('bad-train.csv', good);
    const noColumn = write('no-review.csv', 'label\npos\nneg\n');
    const error = await failure(prepare({ path: train, columns: { review: 'text' } }, { path: noColumn }));
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).message).toContain('no column "review"');
    const noKey = write('no-review.jsonl', '{"label": "pos"}\n{"label": "neg"}\n');
    const fromJsonl = await failure(prepare({ path: train, columns: { review: 'text' } }, { path: noKey }));
    expect((fromJsonl as DatasetError).message).toContain('no row has the text column "review"');
  });

  test('two text columns: an error naming both', async () => {
    const lines = ['title,review,label'];
    for (const row of reviews({ rows: 40, seed: 6 })) {
      const quoted = (text: string): string => `"${text.replace(/"/g, '""')}"`;
      lines.push(`${quoted(`${row.review} again and again`)},${quoted(row.review)},${row.label}`);
    }
    const file = write('two.csv', lines.join('\n') + '\n');
    const inferred = await failure(prepare({ path: file }, { path: file }));
    expect(inferred).toBeInstanceOf(DatasetError);
    expect((inferred as DatasetError).message).toContain('two text columns ("title" inferred, "review" inferred)');
    const declared = await failure(prepare({ path: file, columns: { title: 'text', review: 'text' } }, { path: file }));
    expect(declared).toBeInstanceOf(ConfigError);
    expect((declared as ConfigError).field).toBe('data.train.columns');
    expect((declared as ConfigError).message).toContain('"title" and "review" are both declared text');
    const one = await prepare({ path: file, columns: { title: 'categorical' } }, { path: file });
    expect((one.data.preprocess as TablePreprocessSpec).columns.map((column) => column.type)).toEqual([
      'categorical',
      'text',
    ]);
  });

  test('a tokenizer.json that is not one is an error naming the file and the option', async () => {
    const train = write('tok-train.csv', good);
    const cases: [string, string | Buffer, string][] = [
      ['not-json.json', 'hello', 'not valid JSON'],
      ['no-model.json', '{"version": "1.0"}', 'no "model" object'],
      ['no-vocab.json', '{"model": {"type": "BPE"}}', 'no vocabulary'],
      [
        'no-pad.json',
        '{"model": {"type": "WordLevel", "vocab": {"a": 0, "b": 1}, "unk_token": "b"}}',
        'no padding token',
      ],
    ];
    for (const [name, contents, expected] of cases) {
      const file = write(name, contents);
      const error = await failure(
        prepare({ path: train, columns: { review: 'text' }, text: { tokenizer: { file } } }, { path: train }),
      );
      expect(error).toBeInstanceOf(DatasetError);
      expect((error as DatasetError).message).toContain(file);
      expect((error as DatasetError).message).toContain('data.train.text.tokenizer.file');
      expect((error as DatasetError).message).toContain(expected);
    }
    const missing = await failure(
      prepare(
        { path: train, columns: { review: 'text' }, text: { tokenizer: { file: path.join(folder, 'nope.json') } } },
        { path: train },
      ),
    );
    expect((missing as DatasetError).message).toContain('no such file');
  });

  test("another split's text options may only repeat data.train's", async () => {
    const file = write('opts.csv', good);
    const error = await failure(prepare({ path: file }, { path: file, text: { maxLength: 9 } }));
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('data.test.text');
  });

  test('a text column empty in every row of data.train is an error', async () => {
    const file = write('all-empty.csv', 'review,label\n,pos\n,neg\n');
    const error = await failure(prepare({ path: file, columns: { review: 'text' } }, { path: file }));
    expect(error).toBeInstanceOf(DatasetError);
    expect((error as DatasetError).message).toMatch(/empty in every row/);
  });
});

describe("a model's file of rows (the CLI's predict and eval)", () => {
  test('readTableFile keeps the texts as they are; tableDataset encodes them as the run did', async () => {
    const rows = reviews({ rows: 50, seed: 8, mixed: true });
    const file = write('cli.csv', reviewsCsv(rows));
    const prepared = await prepare(
      { path: file, text: { tokenizer: { file: tokenizerFile }, maxLength: 12 } },
      { path: file },
    );
    const spec = prepared.data.preprocess as TablePreprocessSpec;
    const read = await readTableFile(file, spec);
    expect(read.map((row) => row.review)).toEqual(rows.map((row) => row.review));
    const dataset = await tableDataset(file, spec, ['neg', 'pos'], 'classification', tinyTokenizerJson());
    const encoded = await loadDataset((prepared.data.test as { path: string }).path);
    expect(Array.from(dataset.x)).toEqual(Array.from(encoded.x));
    const noText = write('cli-no-text.jsonl', '{"stars": 3}\n');
    const error = await failure(readTableFile(noText, spec));
    expect((error as DatasetError).message).toContain('no row has the text column "review"');
    const written = writeReviews(path.join(folder, 'cli.jsonl'), { rows: 5, seed: 9, mixed: true });
    expect((await readTableFile(path.join(folder, 'cli.jsonl'), spec)).map((row) => row.review)).toEqual(
      written.map((row) => row.review),
    );
  });
});

describe('one engine for the tokenizer and the training (src/engine/on-demand.ts)', () => {
  test("the caller's engine is handed over, never started again nor closed", async () => {
    let closed = 0;
    const given = {
      close: () => {
        closed++;
        return Promise.resolve();
      },
    } as unknown as Engine;
    const seen = await withOnDemandEngine(given, async (engine) => {
      expect(engine.ready).toBe(true);
      const first = await engine.get();
      expect(await engine.get()).toBe(first);
      return first;
    });
    expect(seen).toBe(given);
    expect(closed).toBe(0);
  });

  test('without one, none is started unless asked for', async () => {
    const ready = await withOnDemandEngine(undefined, (engine) => Promise.resolve(engine.ready));
    expect(ready).toBe(false);
  });
});
