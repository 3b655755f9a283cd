/**
 * Tables without Python: the encoding (hand-checked), the readers (CSV, TSV, JSON lines, gzip, quoting), the
 * arrays prepareTables writes, and every bad input (docs/ERRORS.md 89-99).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { ConfigError } from '../src/config/errors';
import { Data, type DataConfig } from '../src/config/schema';
import { prepareData } from '../src/data';
import { readTableFile, sortValues, tableDataset } from '../src/data/table';
import { DatasetError, loadDataset } from '../src/eval/dataset';
import type { TablePreprocessSpec } from '../src/preprocess/spec';
import { compileTable, encodeRow } from '../src/preprocess/table';
import { InputValidationError } from '../src/core/errors';
import { tempDir } from './support/tiny';
import { instanceOf } from './support/expect';

const spec: TablePreprocessSpec = {
  kind: 'table',
  columns: [
    { name: 'carat', type: 'numeric', fill: 0.5 },
    {
      name: 'cut',
      type: 'categorical',
      categories: ['Fair', 'Good', 'Ideal', ''],
      missingCategory: '',
      unseen: 'zeros',
    },
    { name: 'gift', type: 'boolean', fill: 0.25 },
    { name: 'colour', type: 'categorical', categories: ['D', 'E'], missingCategory: null, unseen: 'error' },
  ],
  targets: ['price'],
};

function encode(row: Record<string, unknown>, where = 'sample'): number[] {
  const out = new Float32Array(compileTable(spec).width);
  encodeRow(spec, row as never, out, 0, where);
  return [...out];
}

function thrown(work: () => unknown): Error {
  try {
    work();
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

async function rejected(work: Promise<unknown>): Promise<Error> {
  try {
    await work;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected an error');
}

describe('the table encoding', () => {
  test('numeric, one-hot (in the spec order), boolean, slot by slot', () => {
    expect(compileTable(spec).width).toBe(8);
    expect(encode({ carat: 0.3, cut: 'Ideal', gift: 'TRUE', colour: 'E' })).toEqual([
      Math.fround(0.3),
      0,
      0,
      1,
      0,
      1,
      0,
      1,
    ]);
    expect(encode({ carat: '1.5', cut: 'Fair', gift: false, colour: 'D' })).toEqual([1.5, 1, 0, 0, 0, 0, 1, 0]);
    expect(encode({ carat: 2, cut: 'Good', gift: 1, colour: 'D' })).toEqual([2, 0, 1, 0, 0, 1, 1, 0]);
  });

  test('missing (absent, null, undefined, empty): the fill, or the missing category', () => {
    expect(encode({ carat: '', cut: null, colour: 'D' })).toEqual([0.5, 0, 0, 0, 1, 0.25, 1, 0]);
    expect(encode({ carat: null, cut: '', gift: undefined, colour: 'E' })).toEqual([0.5, 0, 0, 0, 1, 0.25, 0, 1]);
  });

  test('an unseen category: all zeros, or an error with unseen: error', () => {
    expect(encode({ carat: 1, cut: 'Perfect', gift: true, colour: 'D' })).toEqual([1, 0, 0, 0, 0, 1, 1, 0]);
    const error = thrown(() => encode({ carat: 1, cut: 'Ideal', colour: 'Z' }));
    expect(error).toBeInstanceOf(InputValidationError);
    expect(error.message).toBe('sample.colour: expected one of the training categories (D, E), received string "Z"');
    // colour had no missing cell in training: a missing one is unseen, and unseen is an error there
    expect(thrown(() => encode({ carat: 1 })).message).toMatch(
      /^sample\.colour: expected one of the training categories \(D, E\): the column had no missing values/,
    );
  });

  test("an unknown column is an error naming it and the model's columns; the label column is ignored", () => {
    const error = instanceOf(
      thrown(() => encode({ carat: 1, colour: 'D', weight: 3 }, 'samples[2]')),
      InputValidationError,
    );
    expect(error).toBeInstanceOf(InputValidationError);
    expect(error.field).toBe('samples[2].weight');
    expect(error.message).toBe(
      "samples[2].weight: expected no such column (the model's columns: carat, cut, gift, colour), received 3",
    );
    expect(encode({ carat: 1, colour: 'D', price: 326 })).toEqual(encode({ carat: 1, colour: 'D' }));
  });

  test('values a column cannot take are errors naming the column', () => {
    expect(thrown(() => encode({ carat: 'heavy', colour: 'D' })).message).toBe(
      'sample.carat: expected a number (numeric column), received string "heavy"',
    );
    expect(thrown(() => encode({ carat: NaN, colour: 'D' })).message).toMatch(
      /^sample\.carat: expected a finite number/,
    );
    expect(thrown(() => encode({ gift: 'maybe', colour: 'D' })).message).toMatch(
      /^sample\.gift: expected true or false/,
    );
    expect(thrown(() => encode({ cut: { a: 1 }, colour: 'D' })).message).toMatch(
      /^sample\.cut: expected a string, number or boolean/,
    );
  });

  test('a categorical column takes numbers and booleans by their JSON text; a reused buffer is overwritten', () => {
    const numbers: TablePreprocessSpec = {
      kind: 'table',
      columns: [
        {
          name: 'zip',
          type: 'categorical',
          categories: ['1', '2', '10', 'true'],
          missingCategory: null,
          unseen: 'zeros',
        },
      ],
      targets: [],
    };
    const out = new Float32Array(6).fill(7);
    encodeRow(numbers, { zip: 10 }, out, 1, 'sample');
    expect([...out]).toEqual([7, 0, 0, 1, 0, 7]);
    encodeRow(numbers, { zip: true }, out, 1, 'sample');
    expect([...out]).toEqual([7, 0, 0, 0, 1, 7]);
  });

  test('class names and categories sort numerically when all are numbers, else by code unit', () => {
    expect(sortValues(['10', '2', '1', '-3.5'])).toEqual(['-3.5', '1', '2', '10']);
    expect(sortValues(['b', 'B', 'a', '10', '9'])).toEqual(['10', '9', 'B', 'a', 'b']);
  });
});

// ---------------------------------------------------------------- files

const folder = tempDir('tables');
let counter = 0;

function write(name: string, text: string): string {
  const file = path.join(folder, `${counter++}-${name}`);
  fs.writeFileSync(file, name.endsWith('.gz') ? zlib.gzipSync(text) : text);
  return file;
}

const SHOP = [
  'carat,cut,gift,note,label',
  '0.5,Ideal,true,"plain",cheap',
  '1.5,Good,false,"has, a comma",dear',
  ',Ideal,TRUE,"two',
  'lines",cheap',
  '2.5,,false,"say ""hi""",dear',
].join('\n');

describe('reading tables', () => {
  test('CSV with quoted commas, newlines and quotes; TSV; JSON lines; gzip', async () => {
    const rows = await readTableFile(write('shop.csv', SHOP + '\n'));
    expect(rows).toHaveLength(4);
    expect(rows[1]).toEqual({ carat: '1.5', cut: 'Good', gift: 'false', note: 'has, a comma', label: 'dear' });
    expect(rows[2]!.note).toBe('two\nlines');
    expect(rows[3]).toEqual({ carat: '2.5', cut: '', gift: 'false', note: 'say "hi"', label: 'dear' });

    const tsv = await readTableFile(write('shop.tsv.gz', 'a\tb\n1\tx y\n2\t\n'));
    expect(tsv).toEqual([
      { a: '1', b: 'x y' },
      { a: '2', b: '' },
    ]);

    const jsonl = await readTableFile(
      write('shop.jsonl', '{"a": 1, "b": "x"}\n\n{"a": 2.5, "c": true}\r\n{"b": null}'),
    );
    expect(jsonl).toEqual([{ a: '1', b: 'x' }, { a: '2.5', c: 'true' }, {}]);
    expect(await readTableFile(write('shop.csv.gz', SHOP))).toEqual(rows);
  });

  test("with a model's spec, only its columns (and labels) are kept", async () => {
    const rows = await readTableFile(write('extra.csv', 'carat,colour,price,id\n1,D,300,7\n'), spec);
    expect(rows).toEqual([{ carat: '1', colour: 'D', price: '300' }]);
  });

  test('line numbers stay right after a row that spans lines', async () => {
    const file = write('late.csv', 'a,b\n1,"x\ny"\n2,z\n3\n');
    const error = await rejected(readTableFile(file));
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`dataset ${file}:5: the row has 1 field, the header 2`);
  });
});

// ---------------------------------------------------------------- prepareTables

function dataConfig(input: Record<string, unknown>): DataConfig {
  return Data.parse(input);
}

const TRAIN = [
  'carat,cut,gift,label',
  '1,Ideal,true,yes',
  '3,Good,false,no',
  ',Ideal,true,yes',
  '2,,false,no',
  '5,Fair,false,maybe',
].join('\n');

describe('prepareTables', () => {
  test('writes x (float32) and y (int64 class indices) per split, the spec and the sorted class names', async () => {
    const out = tempDir('tables-out');
    const train = write('train.csv', TRAIN);
    const test = write('test.csv', 'label,carat,cut,gift\nno,4,Premium,true\nyes,,Good,\n');
    const prepared = await prepareData(
      dataConfig({
        train: { type: 'csv', path: train, label: 'label' },
        test: { type: 'csv', path: test },
        validation: { type: 'split', fraction: 0.2 },
      }),
      out,
    );
    const mean = (1 + 3 + 2 + 5) / 4;
    expect(prepared.data.preprocess).toEqual({
      kind: 'table',
      columns: [
        { name: 'carat', type: 'numeric', fill: mean },
        {
          name: 'cut',
          type: 'categorical',
          categories: ['Fair', 'Good', 'Ideal', ''],
          missingCategory: '',
          unseen: 'zeros',
        },
        { name: 'gift', type: 'boolean', fill: 2 / 5 },
      ],
      targets: ['label'],
    });
    expect(prepared.data.labels).toEqual(['maybe', 'no', 'yes']);
    expect(prepared.data.validation).toEqual({ type: 'split', fraction: 0.2 });
    expect(prepared.data.train).toEqual({
      type: 'file',
      path: path.join(out, 'data', 'train-encoded.npz'),
      x: 'x',
      y: 'y',
      offset: 0,
      labelled: true,
    });
    expect(prepared.summary).toEqual({ kind: 'table', rows: { train: 5, test: 2 }, skipped: {} });

    const trainSet = await loadDataset(path.join(out, 'data', 'train-encoded.npz'));
    expect(trainSet.sampleShape).toEqual([6]);
    expect([...trainSet.x]).toEqual([
      ...[1, 0, 0, 1, 0, 1],
      ...[3, 0, 1, 0, 0, 0],
      ...[Math.fround(mean), 0, 0, 1, 0, 1],
      ...[2, 0, 0, 0, 1, 0],
      ...[5, 1, 0, 0, 0, 0],
    ]);
    expect([...trainSet.y!]).toEqual([2, 1, 2, 1, 0]);
    const testSet = await loadDataset(path.join(out, 'data', 'test-encoded.npz'));
    expect([...testSet.x]).toEqual([...[4, 0, 0, 0, 0, 1], ...[Math.fround(mean), 0, 1, 0, 0, Math.fround(0.4)]]); // Premium: unseen → zeros
    expect([...testSet.y!]).toEqual([1, 2]);
  });

  test('JSON lines, features and declared kinds, offset and limit, numeric class names', async () => {
    const out = tempDir('tables-out');
    const lines = [
      '{"id": 9, "zip": 10, "size": 1, "y": 10}',
      '{"id": 8, "zip": 2, "size": 2, "y": 2}',
      '{"id": 7, "zip": 10, "y": 1}',
      '{"id": 6, "zip": 2, "size": 4, "y": 2}',
    ];
    const train = write('train.jsonl.gz', lines.join('\n'));
    const prepared = await prepareData(
      dataConfig({
        train: {
          type: 'csv',
          path: train,
          label: 'y',
          features: ['size', 'zip'],
          columns: { zip: 'categorical' },
          missing: { numeric: { constant: -1 } },
          offset: 1,
        },
        test: { type: 'csv', path: train, offset: 2, limit: 1 },
      }),
      out,
    );
    expect(prepared.summary.rows).toEqual({ train: 3, test: 1 });
    expect(prepared.data.preprocess).toEqual({
      kind: 'table',
      columns: [
        { name: 'size', type: 'numeric', fill: -1 },
        { name: 'zip', type: 'categorical', categories: ['2', '10'], missingCategory: null, unseen: 'zeros' },
      ],
      targets: ['y'],
    });
    expect(prepared.data.labels).toEqual(['1', '2']);
    const trainSet = await loadDataset(path.join(out, 'data', 'train-encoded.npz'));
    expect([...trainSet.x]).toEqual([2, 1, 0, -1, 0, 1, 4, 1, 0]);
    expect([...trainSet.y!]).toEqual([1, 0, 1]);
    // data.test's first row has class "10", which data.train (from offset 1) never had
    const error = await rejected(
      prepareData(
        dataConfig({
          train: { type: 'csv', path: train, label: 'y', offset: 1 },
          test: { type: 'csv', path: train, limit: 2 },
        }),
        out,
      ),
    );
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`dataset ${train}:1: label "10" is not one of data.train's classes (1, 2)`);
  });

  test('regression with two target columns: y float32 [N, 2], labels the column names', async () => {
    const out = tempDir('tables-out');
    const train = write('reg.tsv', 'a\tb\tp\tq\n1\tx\t0.5\t10\n2\ty\t1.5\t20\n3\tx\t2.5\t30\n');
    const prepared = await prepareData(
      dataConfig({
        task: 'regression',
        train: { type: 'csv', path: train, label: ['p', 'q'] },
        test: { type: 'csv', path: train },
      }),
      out,
    );
    expect(prepared.data.labels).toEqual(['p', 'q']);
    expect((prepared.data.preprocess as TablePreprocessSpec).targets).toEqual(['p', 'q']);
    const set = await loadDataset(path.join(out, 'data', 'train-encoded.npz'));
    expect(set.targetWidth).toBe(2);
    expect([...set.y!]).toEqual([0.5, 10, 1.5, 20, 2.5, 30]);
    expect([...set.x]).toEqual([1, 1, 0, 2, 0, 1, 3, 1, 0]);

    const dataset = await tableDataset(train, prepared.data.preprocess as TablePreprocessSpec, ['p', 'q']);
    expect([...dataset.x]).toEqual([...set.x]);
    expect([...dataset.y!]).toEqual([...set.y!]);
  });

  test("tableDataset maps a file's labels onto the model's classes", async () => {
    const file = write('eval.csv', 'carat,cut,gift,colour,price\n1,Ideal,true,D,cheap\n2,Fair,false,E,dear\n');
    const dataset = await tableDataset(file, spec, ['dear', 'cheap']);
    expect(dataset.sampleShape).toEqual([8]);
    expect([...dataset.y!]).toEqual([1, 0]);
    expect([...dataset.x.slice(0, 8)]).toEqual([1, 0, 0, 1, 0, 1, 1, 0]);
    const error = await rejected(tableDataset(file, spec, ['dear', 'costly']));
    expect(error.message).toBe(`dataset ${file}:2: label "cheap" is not one of the model's classes (dear, costly)`);
    const unlabelled = write('nolabel.csv', 'carat,cut,gift,colour\n1,Ideal,true,D\n');
    expect((await rejected(tableDataset(unlabelled, spec, ['a', 'b']))).message).toMatch(
      /no label column "price": evaluation needs the labels/,
    );
  });
});

// ---------------------------------------------------------------- bad inputs (docs/ERRORS.md 89-99)

describe('bad table inputs: a typed error naming the file and line or the config path, and nothing written', () => {
  const out = tempDir('tables-bad');

  async function prepareError(train: Record<string, unknown>, test?: Record<string, unknown>): Promise<Error> {
    const config = dataConfig({
      train: { type: 'csv', label: 'label', ...train },
      test: { type: 'csv', path: train.path, ...test },
    });
    const error = await rejected(prepareData(config, out));
    expect(fs.existsSync(path.join(out, 'data'))).toBe(false);
    return error;
  }

  test('89: a ragged row', async () => {
    const file = write('ragged.csv', 'a,b,label\n1,2,x\n3,y\n');
    const error = await prepareError({ path: file });
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`dataset ${file}:3: the row has 2 fields, the header 3`);
    expect(instanceOf(error, DatasetError).line).toBe(3);
  });

  test('89: an unclosed quote', async () => {
    const file = write('quote.csv', 'a,label\n1,x\n2,"y\n3,z\n');
    const error = await prepareError({ path: file });
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toMatch(
      new RegExp(`^dataset ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:\\d+: malformed CSV: Quote Not Closed`),
    );
  });

  test('90: a label column the file does not have names the columns it has', async () => {
    const file = write('nolabel.csv', 'a,b\n1,2\n');
    const error = instanceOf(await prepareError({ path: file, label: 'price' }), ConfigError);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.field).toBe('data.train.label');
    expect(error.message).toContain(`data.train.label: no column "price" in ${file} (its columns: a, b)`);
  });

  test('91: features and columns naming columns the file does not have', async () => {
    const file = write('names.csv', 'a,b,label\n1,2,x\n');
    const error = instanceOf(
      await prepareError({ path: file, features: ['a', 'colour'], columns: { size: 'numeric' } }),
      ConfigError,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.issues.map((issue) => issue.path)).toEqual(['data.train.features[1]', 'data.train.columns.size']);
    expect(error.message).toContain(`data.train.features[1]: no column "colour" in ${file} (its columns: a, b, label)`);
  });

  test('92: a non-number in a column declared numeric', async () => {
    const file = write('numeric.csv', 'a,label\n1,x\n2,y\nabc,x\n');
    const error = await prepareError({ path: file, columns: { a: 'numeric' } });
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      `dataset ${file}:4: column "a" is declared numeric, but holds "abc", not a number (if it means a missing value, list it in data.train.missing.markers)`,
    );
  });

  test('93: an empty file, a header alone', async () => {
    const empty = write('empty.csv', '');
    expect((await prepareError({ path: empty })).message).toBe(
      `dataset ${empty}: an empty file: expected a header row, then rows`,
    );
    const header = write('header.csv', 'a,label\n');
    expect((await prepareError({ path: header })).message).toBe(`dataset ${header}: only a header, no rows`);
    const missing = path.join(folder, 'absent.csv');
    expect((await prepareError({ path: missing })).message).toBe(`dataset ${missing}: no such file`);
    const notGzip = path.join(folder, 'plain.csv.gz');
    fs.writeFileSync(notGzip, 'a,label\n1,x\n');
    expect((await prepareError({ path: notGzip })).message).toMatch(
      /^dataset .*plain\.csv\.gz: not a valid gzip file, or it is truncated/,
    );
  });

  test('94: a JSON line that is not an object, or not JSON', async () => {
    const file = write('rows.jsonl', '{"a": 1, "label": "x"}\n[1, 2]\n');
    const error = await prepareError({ path: file });
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(`dataset ${file}:2: expected a JSON object (one row), got an array`);
    const broken = write('broken.jsonl', '{"a": 1, "label": "x"}\n\n{"a": 2,\n');
    expect((await prepareError({ path: broken })).message).toMatch(new RegExp(`:3: not valid JSON`));
  });

  test('95: an unseen category in another split with unseen: error; a class data.train never had', async () => {
    const train = write('train.csv', 'cut,label\nIdeal,x\nGood,y\n');
    const test = write('test.csv', 'cut,label\nGood,x\nPerfect,y\n');
    const error = await prepareError({ path: train, unseen: 'error' }, { path: test });
    expect(error).toBeInstanceOf(DatasetError);
    expect(error.message).toBe(
      `dataset ${test}:3: column "cut": expected one of the training categories (Good, Ideal), received string "Perfect"`,
    );
    const classes = write('classes.csv', 'cut,label\nGood,x\nGood,z\n');
    expect((await prepareError({ path: train }, { path: classes })).message).toBe(
      `dataset ${classes}:3: label "z" is not one of data.train's classes (x, y)`,
    );
  });

  test('96: an empty label cell; a one-class label column; data.labels of the wrong length', async () => {
    const file = write('emptylabel.csv', 'a,label\n1,x\n2,\n');
    expect((await prepareError({ path: file })).message).toBe(`dataset ${file}:3: the label column "label" is empty`);
    const one = write('one.csv', 'a,label\n1,x\n2,x\n');
    expect((await prepareError({ path: one })).message).toMatch(/holds only one class \("x"\)/);
    const two = write('two.csv', 'a,label\n1,x\n2,y\n');
    const error = await rejected(
      prepareData(
        dataConfig({
          labels: ['a', 'b', 'c'],
          train: { type: 'csv', path: two, label: 'label' },
          test: { type: 'csv', path: two },
        }),
        out,
      ),
    );
    expect(instanceOf(error, ConfigError).field).toBe('data.labels');
  });

  test('97: a config that does not fit a table: no label, two labels for classes, encoding options outside data.train', async () => {
    const file = write('ok.csv', 'a,label\n1,x\n2,y\n');
    expect(instanceOf(await prepareError({ path: file, label: undefined }), ConfigError).field).toBe(
      'data.train.label',
    );
    expect(instanceOf(await prepareError({ path: file, label: ['a', 'label'] }), ConfigError).message).toMatch(
      /expected one label column for classification/,
    );
    expect(instanceOf(await prepareError({ path: file }, { unseen: 'error' }), ConfigError).field).toBe(
      'data.test.unseen',
    );
    const odd = write('table.txt', 'a,label\n1,x\n');
    expect(instanceOf(await prepareError({ path: odd }), ConfigError).field).toBe('data.train.format');
  });

  test('98: a column with too many distinct values to be categorical', async () => {
    const rows = Array.from({ length: 10_002 }, (_, index) => `id${index},${index % 2}`);
    const file = write('ids.csv', ['name,label', ...rows].join('\n'));
    const error = await prepareError({ path: file });
    expect(error.message).toMatch(
      /column "name" has 10,002 distinct values, more than the 10,000 one-hot inputs a categorical column may have/,
    );
  });
});
