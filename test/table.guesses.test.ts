/**
 * No silent guesses when reading a table (issue 26, docs/ERRORS.md 250-255): a numeric column with a few other
 * cells, non-finite numbers, a column of nearly one category per row, bytes that are not UTF-8, and a header
 * separated otherwise than the file is read. Each is an error naming the file, line and option, or a warning.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Data } from '../src/config/schema';
import { prepareData } from '../src/data';
import { firstInvalidUtf8, isNonFiniteText } from '../src/data/table-store';
import { DatasetError, loadDataset } from '../src/eval/dataset';
import { tempDir } from './support/tiny';
import { instanceOf } from './support/expect';

const folder = tempDir('table-guesses');
let counter = 0;

function write(name: string, content: string | Uint8Array): string {
  const file = path.join(folder, `${counter++}-${name}`);
  fs.writeFileSync(file, content);
  return file;
}

/** `rows` lines of x1 (a number), colour, label; `cell(i)` may replace x1 of row i. */
function numbers(rows: number, cell: (row: number) => string | null = () => null): string {
  const lines = ['x1,colour,label'];
  for (let i = 0; i < rows; i++)
    lines.push(`${cell(i) ?? (i * 0.5).toFixed(1)},${i % 3 === 0 ? 'red' : 'blue'},${i % 2 ? 'a' : 'b'}`);
  return lines.join('\n') + '\n';
}

async function prepare(train: Record<string, unknown>, test: Record<string, unknown> = {}) {
  const out = tempDir('table-guesses-out');
  const config = Data.parse({
    train: { type: 'csv', label: 'label', ...train },
    test: { type: 'csv', path: train.path, ...test },
  });
  return { out, prepared: await prepareData(config, out) };
}

async function prepareError(train: Record<string, unknown>, test: Record<string, unknown> = {}): Promise<DatasetError> {
  try {
    await prepare(train, test);
  } catch (error) {
    return instanceOf(error, DatasetError);
  }
  throw new Error('expected a DatasetError');
}

describe('a column of numbers but for a few cells', () => {
  test('250: one Infinity among 200 numbers is an error naming the cell and its line, not a categorical column', async () => {
    const file = write(
      'inf.csv',
      numbers(200, (i) => (i === 56 ? 'Infinity' : null)),
    );
    const error = await prepareError({ path: file });
    expect(error.message).toBe(
      `dataset ${file}: column "x1" is numeric, but holds non-finite numbers: "Infinity" (line 58); read them as missing values with data.train.missing.nonFinite: 'missing', or correct the cells`,
    );
  });

  test("250: with missing.nonFinite: 'missing' they are missing values, filled with the mean of the others", async () => {
    const file = write(
      'nan.csv',
      numbers(40, (i) => (i === 3 ? 'NaN' : i === 5 ? '-inf' : i === 7 ? '1e999' : null)),
    );
    const { out, prepared } = await prepare({ path: file, missing: { nonFinite: 'missing' } });
    const spec = prepared.data.preprocess;
    expect(spec?.kind === 'table' && spec.columns[0]).toMatchObject({ name: 'x1', type: 'numeric' });
    const x = (await loadDataset(path.join(out, 'data', 'train-encoded.npz'))).x;
    const width = 3; // x1, colour: blue, red
    const others = Array.from({ length: 40 }, (_, i) => i * 0.5).filter((_, i) => ![3, 5, 7].includes(i));
    const mean = others.reduce((a, b) => a + b, 0) / others.length;
    expect(x[3 * width]).toBeCloseTo(mean, 4);
    expect(x[5 * width]).toBeCloseTo(mean, 4);
    expect(x[4 * width]).toBe(2);
  });

  test('250: a non-finite number in a column declared numeric, or numeric in another split, is the same error', async () => {
    const file = write(
      'declared.csv',
      numbers(30, (i) => (i === 2 ? '-Infinity' : null)),
    );
    const error = await prepareError({ path: file, columns: { x1: 'numeric' } });
    expect(error.message).toMatch(/column "x1" is numeric, but holds non-finite numbers: "-Infinity" \(line 4\)/);
    expect(error.line).toBe(4);
    const clean = write('clean.csv', numbers(30));
    const test = write(
      'test.csv',
      numbers(30, (i) => (i === 9 ? 'nan' : null)),
    );
    const other = await prepareError({ path: clean }, { path: test });
    expect(other.message).toMatch(
      /^dataset .*test\.csv:11: column "x1" is numeric, but holds non-finite numbers: "nan"/,
    );
    expect(
      (await prepare({ path: clean, missing: { nonFinite: 'missing' } }, { path: test })).prepared.summary.rows,
    ).toEqual({
      train: 30,
      test: 30,
    });
  });

  test('251: a few cells that are not numbers are an error naming them, their lines and the fixes', async () => {
    const file = write(
      'marks.csv',
      numbers(60, (i) => (i === 4 || i === 20 ? '?' : i === 31 ? 'n/a' : null)),
    );
    const error = await prepareError({ path: file });
    expect(error.message).toBe(
      `dataset ${file}: column "x1" holds numbers but for 3 of its 60 non-empty cells: "?" (2 cells, the first on line 6), "n/a" (line 33); if they mean missing values, list them in data.train.missing.markers; if the column is categorical, declare it with data.train.columns.x1: 'categorical'; else correct the cells`,
    );
    const { prepared } = await prepare({ path: file, missing: { markers: ['?', 'n/a'] } });
    const spec = prepared.data.preprocess;
    expect(spec?.kind === 'table' && spec.columns[0]?.type).toBe('numeric');
    const categorical = await prepare({ path: file, columns: { x1: 'categorical' } });
    expect(categorical.prepared.summary.warnings?.[0]).toBeUndefined(); // declared: no warning either
  });

  test('251: a marker in a column declared numeric is missing; an unlisted text names the option', async () => {
    const file = write(
      'na.csv',
      numbers(30, (i) => (i === 1 ? 'NA' : null)),
    );
    const error = await prepareError({ path: file, columns: { x1: 'numeric' } });
    expect(error.message).toBe(
      `dataset ${file}:3: column "x1" is declared numeric, but holds "NA", not a number (if it means a missing value, list it in data.train.missing.markers)`,
    );
    const { prepared } = await prepare({ path: file, columns: { x1: 'numeric' }, missing: { markers: ['NA'] } });
    expect(prepared.summary.rows.train).toBe(30);
  });

  test('a categorical column of a few numbers among mostly text stays categorical', async () => {
    const lines = [
      'size,label',
      ...Array.from({ length: 30 }, (_, i) => `${i % 10 === 0 ? '3' : (['S', 'M', 'L'][i % 3] ?? '')},${i % 2}`),
    ];
    const { prepared } = await prepare({ path: write('sizes.csv', lines.join('\n')) });
    const spec = prepared.data.preprocess;
    expect(spec?.kind === 'table' && spec.columns[0]?.type).toBe('categorical');
  });

  test('non-finite spellings', () => {
    for (const text of ['Infinity', '-Infinity', '+inf', 'NaN', 'nan', ' INF ', '1e999', '-1e400'])
      expect(isNonFiniteText(text)).toBe(true);
    for (const text of ['1', 'abc', '', 'Nancy', 'info', '1e10']) expect(isNonFiniteText(text)).toBe(false);
  });
});

describe('a categorical column of nearly one value per row', () => {
  test('252: a warning naming it and the fixes, in the data summary', async () => {
    const lines = [
      'id,colour,label',
      ...Array.from({ length: 40 }, (_, i) => `u${1000 + i},${i % 2 ? 'red' : 'blue'},${i % 2}`),
    ];
    const file = write('ids.csv', lines.join('\n'));
    const { prepared } = await prepare({ path: file });
    expect(prepared.summary.warnings).toEqual([
      `data.train: column "id" has 40 distinct values in its 40 non-empty cells, nearly one per row (an id, a timestamp or free text?): one-hot categories of it cannot generalise to new rows; leave it out with data.train.features, or declare it with data.train.columns.id: 'categorical' to keep it`,
    ]);
    expect((await prepare({ path: file, features: ['colour'] })).prepared.summary.warnings).toBeUndefined();
    expect((await prepare({ path: file, columns: { id: 'categorical' } })).prepared.summary.warnings).toBeUndefined();
  });
});

describe('the text encoding', () => {
  const latin1 = (text: string): Uint8Array => Buffer.from(text, 'latin1');
  const rows = ['city,size,label', 'oslo,1,a', 'bergen,2,b', 'rød,3,a', 'oslo,4,b'].join('\n') + '\n';

  test('253: a Latin-1 file read as UTF-8 is an error naming its line and the encoding option', async () => {
    const file = write('latin1.csv', latin1(rows));
    const error = await prepareError({ path: file });
    expect(error.message).toBe(
      `dataset ${file}:4: not valid UTF-8: byte 0xF8 is not UTF-8; if the file is Latin-1 or Windows-1252 (as older Excel exports are), set data.train.encoding: 'windows-1252'; else convert it to UTF-8`,
    );
    expect(error.line).toBe(4);
  });

  test("253: with encoding: 'windows-1252' (or latin1) the same file gives the category rød", async () => {
    const file = write('latin1-ok.csv', latin1(rows));
    const { prepared } = await prepare({ path: file, encoding: 'windows-1252' }, { encoding: 'latin1' });
    const spec = prepared.data.preprocess;
    expect(spec?.kind === 'table' && spec.columns[0]).toMatchObject({ categories: ['bergen', 'oslo', 'rød'] });
  });

  test('253: UTF-8 with a byte-order mark, and a character split across read chunks, read as they are', async () => {
    const body = [
      'city,size,label',
      ...Array.from({ length: 30_000 }, (_, i) => `${i % 2 ? 'rød' : 'blå'},${i},${i % 2}`),
    ];
    const file = write('bom.csv', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(body.join('\n'))]));
    const { prepared } = await prepare({ path: file });
    const spec = prepared.data.preprocess;
    expect(spec?.kind === 'table' && spec.columns[0]).toMatchObject({ name: 'city', categories: ['blå', 'rød'] });
    // A bad byte far into the file is found on its line, whatever chunk it falls in.
    const bytes = Buffer.from(body.join('\n'));
    const at = bytes.indexOf(',29999,') + 2; // in row 29,999, on line 30,001
    expect(at).toBeGreaterThan(1 << 16); // past the first read chunk
    bytes[at] = 0xe9;
    const error = await prepareError({ path: write('late.csv', bytes) });
    expect(error.line).toBe(30_001);
  });

  test('the UTF-8 checker finds the first bad byte', () => {
    expect(firstInvalidUtf8(Buffer.from('abc ø €'))).toBe(-1);
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xf8, 0x62]))).toBe(1);
    expect(firstInvalidUtf8(Uint8Array.from([0x61, 0xc3]))).toBe(1); // cut short
    expect(firstInvalidUtf8(Uint8Array.from([0xed, 0xa0, 0x80]))).toBe(0); // a surrogate
    expect(firstInvalidUtf8(Uint8Array.from([0xc0, 0x80]))).toBe(0); // overlong
  });
});

describe('the field separator', () => {
  test('254: a header separated by ";" read as CSV is an error naming the delimiter option; with it, it reads', async () => {
    const text = 'x1;colour;label\n1;red;a\n2;blue;b\n3;red;a\n';
    const file = write('semicolon.csv', text);
    const error = await prepareError({ path: file });
    expect(error.message).toBe(
      `dataset ${file}:1: the header reads as one column, "x1;colour;label", which looks separated by ";" while the file is read as separated by commas: set data.train.delimiter: ";"`,
    );
    expect((await prepare({ path: file, delimiter: ';' }, { delimiter: ';' })).prepared.summary.rows.train).toBe(3);
  });

  test('254: a tab-separated file named .csv names delimiter and format; a .tsv written with commas names commas', async () => {
    const tabs = write('tabs.csv', 'x1\tcolour\tlabel\n1\tred\ta\n2\tblue\tb\n');
    expect((await prepareError({ path: tabs })).message).toMatch(
      /which looks separated by tabs while the file is read as separated by commas: set data\.train\.delimiter: "\\t" \(or data\.train\.format: 'tsv'\)$/,
    );
    const lines = write('rows.jsonl', '{"x1": 1, "label": "a"}\n');
    await expect(prepare({ path: lines, delimiter: ';' })).rejects.toThrow(
      /data\.train\.delimiter: .*rows\.jsonl is JSON lines, which have no field separator/,
    );
    const commas = write('commas.tsv', 'x1,colour,label\n1,red,a\n');
    expect((await prepareError({ path: commas })).message).toMatch(
      /looks separated by commas while the file is read as separated by tabs: set data\.train\.delimiter: ","$/,
    );
  });
});
