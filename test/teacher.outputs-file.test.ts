import { mkdtempSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { zipSync } from 'fflate';
import { npyBytes } from '../src/io/npy';
import { TeacherOutputError } from '../src/teacher/answers';
import { readOutputsFile, type OutputsFileOptions } from '../src/teacher/outputs-file';

const CLASSES = ['cat', 'dog', 'bird'];
const IDS = ['a', 'b', 'c'];
/** Three rows of probabilities, in the data's row order (ids a, b, c). */
const PROBABILITIES = [
  [0.7, 0.2, 0.1],
  [0.1, 0.8, 0.1],
  [0.25, 0.25, 0.5],
];
const base: OutputsFileOptions = {
  kind: 'auto',
  classNames: CLASSES,
  task: 'classification',
  rows: 3,
  where: 'teacher.path',
};
const byId: Partial<OutputsFileOptions> = { idColumn: 'id', ids: IDS };

let folder = '';
beforeAll(() => {
  folder = mkdtempSync(join(tmpdir(), 'distillery-outputs-'));
});
afterAll(() => {
  rmSync(folder, { recursive: true, force: true });
});

function write(name: string, content: string | Uint8Array): string {
  const file = join(folder, name);
  writeFileSync(file, content);
  return file;
}

function read(file: string, options: Partial<OutputsFileOptions> = {}) {
  return readOutputsFile(file, { ...base, ...options });
}

async function errorOf(file: string, options: Partial<OutputsFileOptions> = {}): Promise<TeacherOutputError> {
  const error: unknown = await read(file, options).then(
    () => new Error('expected a TeacherOutputError'),
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TeacherOutputError);
  return error as TeacherOutputError;
}

const float32 = (values: readonly number[]) => values.map(Math.fround);

/** A 1-D numpy string array: U (UTF-32 code points, as np.array(['a', 'b']) saves) or S (UTF-8 bytes), zero-padded. */
function npyStrings(values: readonly string[], type: 'U' | 'S'): Uint8Array {
  // Code points are what numpy's U dtype stores, one per 4 bytes.
  const units = values.map((value) =>
    type === 'U' ? Array.from(value, (char) => char.codePointAt(0) ?? 0) : Array.from(Buffer.from(value, 'utf8')),
  );
  const width = Math.max(1, ...units.map((item) => item.length));
  const size = type === 'U' ? 4 : 1;
  let header = `{'descr': '${type === 'U' ? '<' : '|'}${type}${width}', 'fortran_order': False, 'shape': (${values.length},), }`;
  header += ' '.repeat((64 - ((10 + header.length + 1) % 64)) % 64) + '\n';
  const start = 10 + header.length;
  const bytes = new Uint8Array(start + values.length * width * size);
  bytes.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0]);
  const view = new DataView(bytes.buffer);
  view.setUint16(8, header.length, true);
  bytes.set(Buffer.from(header, 'latin1'), 10);
  units.forEach((item, index) => {
    item.forEach((unit, at) => {
      const offset = start + (index * width + at) * size;
      if (size === 4) view.setUint32(offset, unit, true);
      else view.setUint8(offset, unit);
    });
  });
  return bytes;
}

const matrix = (rows: readonly (readonly number[])[]) =>
  npyBytes(Float32Array.from(rows.flat()), [rows.length, rows[0]?.length ?? 0]);

describe('.npy', () => {
  test('[N, classes] floats: probabilities by the auto rule, logits when a value lies outside [0, 1]', async () => {
    const probabilities = await read(write('p.npy', matrix(PROBABILITIES)));
    expect(probabilities).toMatchObject({ kind: 'probabilities', rows: 3, classes: 3 });
    expect(Array.from(probabilities.values)).toEqual(float32(PROBABILITIES.flat()));
    const logits = await read(
      write(
        'l.npy',
        matrix([
          [2, -1, 0],
          [0, 0, 0],
          [0.5, 0.5, 3],
        ]),
      ),
    );
    expect(logits.kind).toBe('logits');
    expect(Array.from(logits.values)).toEqual([2, -1, 0, 0, 0, 0, 0.5, 0.5, 3]);
  });

  test('[N] int64 labels, and [N] class names as a numpy string array', async () => {
    const ints = await read(write('labels.npy', npyBytes(BigInt64Array.of(2n, 0n, 1n), [3])));
    expect(ints).toMatchObject({ kind: 'labels', rows: 3, classes: 3 });
    expect(Array.from(ints.values)).toEqual([2, 0, 1]);
    const names = await read(write('names.npy', npyStrings(['dog', 'bird', 'cat'], 'U')), { kind: 'labels' });
    expect(Array.from(names.values)).toEqual([1, 2, 0]);
  });

  test('labels out of range, a shape that does not fit the kind, and an id column', async () => {
    const range = await errorOf(write('bad-labels.npy', npyBytes(Int32Array.of(0, 3, 1), [3])));
    expect(range).toMatchObject({ row: 1, line: null });
    expect(range.message).toContain('bad-labels.npy (teacher.path), row 2: label: expected');
    expect(range.message).toContain('an integer from 0 to 2, received 3');
    const shape = await errorOf(write('flat.npy', npyBytes(Float32Array.of(0.1, 0.2, 0.3), [3])), { kind: 'logits' });
    expect(shape.message).toContain('expected shape [N, 3] of numbers (one logit per class), received [3] of f4');
    const wide = await errorOf(write('wide.npy', matrix(PROBABILITIES)), { kind: 'labels' });
    expect(wide.message).toContain('expected shape [N] (one class index or class name per row), received [3, 3]');
    const ids = await errorOf(write('p2.npy', matrix(PROBABILITIES)), byId);
    expect(ids.message).toContain('an .npy file holds no ids to match by');
  });

  test('wrong row count, by order', async () => {
    const error = await errorOf(write('two.npy', matrix(PROBABILITIES.slice(0, 2))), { data: 'data.train' });
    expect(error).toMatchObject({ row: null, line: null });
    expect(error.message).toContain('two.npy (teacher.path): 2 rows for the 3 rows of data.train (matched by order');
  });
});

describe('.npz', () => {
  test('the array name is the kind; ids (strings) match rows by id in any order', async () => {
    const shuffled = [2, 0, 1];
    const file = write(
      'with-ids.npz',
      zipSync({
        'logits.npy': matrix(shuffled.map((row) => PROBABILITIES[row] ?? [])),
        'ids.npy': npyStrings(
          shuffled.map((row) => IDS[row] ?? ''),
          'U',
        ),
      }),
    );
    // Values all in [0, 1], but the array's name says logits: no range rule.
    const answers = await read(file, byId);
    expect(answers).toMatchObject({ kind: 'logits', rows: 3, classes: 3 });
    expect(Array.from(answers.values)).toEqual(float32(PROBABILITIES.flat()));
  });

  test('int64 ids beyond 2^53 read exactly, labels, an id array named as the id column', async () => {
    const file = write(
      'int-ids.npz',
      zipSync({
        'labels.npy': npyBytes(Int32Array.of(1, 2), [2]),
        'key.npy': npyBytes(BigInt64Array.of(9007199254740993n, 10n), [2]),
      }),
    );
    const answers = await read(file, { idColumn: 'key', ids: ['10', '9007199254740993'], rows: 2 });
    expect(answers.kind).toBe('labels');
    expect(Array.from(answers.values)).toEqual([2, 1]);
  });

  test.each<['U' | 'S']>([['U'], ['S']])('non-ASCII string ids in a %s array', async (type) => {
    const ids = ['é', '🐱', 'b'];
    const file = write(
      `ids-${type}.npz`,
      zipSync({ 'labels.npy': npyBytes(Int32Array.of(0, 1, 2), [3]), 'ids.npy': npyStrings(ids, type) }),
    );
    const answers = await read(file, { idColumn: 'id', ids: ['b', '🐱', 'é'] });
    expect(Array.from(answers.values)).toEqual([2, 1, 0]);
  });

  test('ids in an array are named by their position: one not in the data, one twice', async () => {
    const archive = (ids: string[]) =>
      zipSync({ 'labels.npy': npyBytes(Int32Array.of(0, 1, 2), [3]), 'ids.npy': npyStrings(ids, 'U') });
    const stranger = await errorOf(write('stranger.npz', archive(['a', 'x', 'c'])), byId);
    expect(stranger).toMatchObject({ row: null, line: null });
    expect(stranger.message).toContain(
      'stranger.npz (teacher.path): id "x" (ids[1]) is not in the id column of the data',
    );
    const twice = await errorOf(write('twice.npz', archive(['a', 'b', 'a'])), byId);
    expect(twice).toMatchObject({ row: 0, line: null });
    expect(twice.message).toContain('twice.npz (teacher.path), row 1: id "a" (ids[2]) appears again (first at ids[0])');
  });

  test('no known array, two of them, or a declared kind that disagrees with the name', async () => {
    const none = await errorOf(write('none.npz', zipSync({ 'x.npy': matrix(PROBABILITIES) })));
    expect(none.message).toContain('expected an array named probabilities, logits or labels; the archive holds x');
    const two = await errorOf(
      write('two.npz', zipSync({ 'logits.npy': matrix(PROBABILITIES), 'probabilities.npy': matrix(PROBABILITIES) })),
    );
    expect(two.message).toContain('found probabilities and logits: keep one');
    const disagree = await errorOf(write('named.npz', zipSync({ 'probabilities.npy': matrix(PROBABILITIES) })), {
      kind: 'logits',
    });
    expect(disagree.message).toContain(
      "kind 'logits' is declared, but the archive's array is named 'probabilities'; rename the array, or declare kind 'probabilities'",
    );
  });

  test('ids without an id column, an id column without ids, and bad archives', async () => {
    const members = { 'probabilities.npy': matrix(PROBABILITIES), 'ids.npy': npyStrings(IDS, 'S') };
    const unused = await errorOf(write('unused-ids.npz', zipSync(members)));
    expect(unused.message).toContain("the archive has an 'ids' array, but no id column is set");
    const noIds = await errorOf(write('no-ids.npz', zipSync({ 'probabilities.npy': matrix(PROBABILITIES) })), byId);
    expect(noIds.message).toContain("expected an array named 'id' or 'ids' to match rows by id");
    // Byte-string ids (dtype S) match too.
    expect((await read(write('s-ids.npz', zipSync(members)), byId)).rows).toBe(3);
    const corrupt = await errorOf(write('corrupt.npz', 'not a zip'));
    expect(corrupt.message).toContain('not a valid .npz archive');
  });
});

describe('.csv and .tsv', () => {
  test('class columns in another order than the classes are mapped by name', async () => {
    const csv = ['bird,cat,dog', '0.1,0.7,0.2', '0.1,0.1,0.8', '0.5,0.25,0.25'].join('\n');
    const answers = await read(write('reordered.csv', csv), { kind: 'probabilities' });
    expect(Array.from(answers.values)).toEqual(float32(PROBABILITIES.flat()));
    const tsv = await read(write('reordered.tsv', csv.replaceAll(',', '\t')));
    expect(Array.from(tsv.values)).toEqual(float32(PROBABILITIES.flat()));
  });

  test('an id column matches shuffled rows; a label column holds class names', async () => {
    const csv = ['label,id', 'bird,c', 'cat,a', 'dog,b'].join('\n');
    const answers = await read(write('labels.csv', csv), byId);
    expect(answers.kind).toBe('labels');
    expect(Array.from(answers.values)).toEqual([0, 1, 2]);
  });

  test('a missing class column, an unknown column, and an id column not in the header', async () => {
    const missing = await errorOf(write('missing.csv', 'cat,dog\n0.5,0.5\n'), { rows: 1 });
    expect(missing).toMatchObject({ line: 1, field: 'bird' });
    expect(missing.message).toContain(
      `missing.csv (teacher.path), line 1: expected a column per class ("cat", "dog", "bird"), or a 'label' column of class names; no column for "bird"`,
    );
    const unknown = await errorOf(write('unknown.csv', 'id,cat,dog,bird\na,1,0,0\n'), { rows: 1 });
    expect(unknown.message).toContain('column "id" is not a class of the data; set an id column if one holds ids');
    const labelsDeclared = await errorOf(write('classes.csv', 'cat,dog,bird\n1,0,0\n'), { rows: 1, kind: 'labels' });
    expect(labelsDeclared.message).toContain("expected a 'label' column of class names (kind 'labels')");
    const beside = await errorOf(write('beside.csv', 'label,score\ncat,1\n'), { rows: 1 });
    expect(beside.message).toContain('column "score" is not expected beside it');
    const noId = await errorOf(write('no-id.csv', 'cat,dog,bird\n1,0,0\n'), { ...byId, rows: 1, ids: ['a'] });
    expect(noId.message).toContain('expected an id column "id"; the header has "cat", "dog", "bird"');
  });

  test('bad cells name the file line and the class', async () => {
    const csv = ['cat,dog,bird', '0.7,0.2,0.1', '0.1,abc,0.9', '0.3,0.3,0.4'].join('\n');
    const text = await errorOf(write('text.csv', csv));
    expect(text).toMatchObject({ row: 1, line: 3, field: 'class "dog"' });
    expect(text.message).toContain(
      'text.csv (teacher.path), line 3 (row 2): class "dog": expected a finite number, received string "abc"',
    );
    const empty = await errorOf(write('empty-cell.csv', csv.replace('abc', '')));
    expect(empty.message).toContain('received string ""');
    const nan = await errorOf(write('nan.csv', csv.replace('abc', 'nan')));
    expect(nan.message).toContain('expected a finite number, received NaN');
    const sum = await errorOf(write('sum.csv', csv.replace('abc', '0.5')));
    expect(sum.message).toContain(
      'line 3 (row 2): expected probabilities that sum to 1 (within 0.001), received probabilities that sum to 1.5',
    );
    const label = await errorOf(write('label.csv', 'label\ncat\n0\ndog\n'));
    expect(label.message).toContain(
      'line 3 (row 2): label: expected a class name of the data ("cat", "dog", "bird"), received string "0"',
    );
  });

  test('ragged rows are malformed CSV, with the line', async () => {
    const error = await errorOf(write('ragged.csv', 'cat,dog,bird\n1,0,0\n1,0\n0,0,1\n'));
    expect(error.line).toBe(3);
    expect(error.message).toContain('malformed CSV');
  });
});

describe('.jsonl', () => {
  test('one answer per line, by order; blank lines are skipped but keep their line numbers', async () => {
    const lines = ['[0.7, 0.2, 0.1]', '', '{"probabilities": [0.1, 0.8, 0.1]}', '[0.25, 0.25, 0.5]', ''];
    const answers = await read(write('order.jsonl', lines.join('\n')));
    expect(answers.kind).toBe('probabilities');
    expect(Array.from(answers.values)).toEqual(float32(PROBABILITIES.flat()));
    const bad = await errorOf(write('bad.jsonl', lines.join('\n').replace('0.25, 0.25', '0.25, 2')));
    expect(bad).toMatchObject({ row: 2, line: 4 });
  });

  test('objects with ids in shuffled order are matched back to the data order', async () => {
    const lines = [
      '{"id": "c", "logits": [0.25, 0.25, 0.5]}',
      '{"id": "a", "logits": [0.7, 0.2, 0.1]}',
      '{"id": "b", "logits": [0.1, 0.8, 0.1]}',
    ];
    const answers = await read(write('ids.jsonl', lines.join('\n')), byId);
    expect(answers.kind).toBe('logits');
    expect(Array.from(answers.values)).toEqual(float32(PROBABILITIES.flat()));
    const labels = await read(write('int-ids.jsonl', '{"n": 2, "label": "cat"}\n{"n": 1, "label": 2}\n'), {
      idColumn: 'n',
      ids: ['1', '2'],
      rows: 2,
    });
    expect(Array.from(labels.values)).toEqual([2, 0]);
  });

  test('an id not in the data, a duplicate id, a data id missing, duplicate data ids', async () => {
    const line = (id: string) => `{"id": "${id}", "label": "cat"}`;
    const stranger = await errorOf(write('stranger.jsonl', [line('a'), line('z'), line('b')].join('\n')), byId);
    expect(stranger).toMatchObject({ row: null, line: 2, field: 'id' });
    expect(stranger.message).toContain(
      'stranger.jsonl (teacher.path), line 2: id "z" is not in the id column of the data',
    );
    const twice = await errorOf(write('twice.jsonl', [line('a'), line('b'), line('a')].join('\n')), byId);
    expect(twice).toMatchObject({ row: 0, line: 3 });
    expect(twice.message).toContain('line 3 (row 1): id "a" appears again (first on line 1)');
    const missing = await errorOf(write('missing.jsonl', [line('c'), line('a')].join('\n')), byId);
    expect(missing).toMatchObject({ row: 1, line: null });
    expect(missing.message).toContain('row 2: no answer for id "b" of the data; ids without an answer: 1 of 3 ("b")');
    const dataTwice = await errorOf(write('data-twice.jsonl', line('a')), { ...byId, ids: ['a', 'b', 'a'] });
    expect(dataTwice.message).toContain('the id column of the data holds "a" twice (rows 1 and 3)');
  });

  test('bad lines: invalid JSON, a missing id, an id key without an id column', async () => {
    const json = await errorOf(write('json.jsonl', '[1, 0, 0]\n[0, 1,\n[0, 0, 1]\n'));
    expect(json).toMatchObject({ line: 2 });
    expect(json.message).toContain('line 2: not valid JSON');
    const noId = await errorOf(write('no-id.jsonl', '{"label": "cat"}\n'), { ...byId, rows: 1, ids: ['a'] });
    expect(noId.message).toContain(
      'line 1: expected an object with an "id" key and the answer, received an object with keys "label"',
    );
    const stray = await errorOf(write('stray.jsonl', '{"id": "a", "label": "cat"}\n'), { rows: 1 });
    expect(stray.message).toContain('received the key(s) "id" too; set an id column to match rows by id');
  });
});

describe('files', () => {
  test('a missing file, a folder, an unsupported type', async () => {
    expect((await errorOf(join(folder, 'nowhere.csv'))).message).toContain('nowhere.csv (teacher.path): no such file');
    mkdirSync(join(folder, 'dir.csv'));
    expect((await errorOf(join(folder, 'dir.csv'))).message).toContain('a folder, not a file of teacher outputs');
    expect((await errorOf(write('out.parquet', ''))).message).toContain(
      'unsupported file type .parquet; expected one of .npy, .npz, .csv, .tsv, .jsonl',
    );
  });

  test('regression: values per row, from a CSV of output columns and a [N] .npy', async () => {
    const csv = await read(write('reg.csv', 'id,y\nb,2.5\na,-1\n'), {
      task: 'regression',
      classNames: [],
      idColumn: 'id',
      ids: ['a', 'b'],
      rows: 2,
    });
    expect(csv).toMatchObject({ kind: 'logits', rows: 2, classes: 1 });
    expect(Array.from(csv.values)).toEqual([-1, 2.5]);
    const npy = await read(write('reg.npy', npyBytes(Float64Array.of(0.5, 1.5), [2])), {
      task: 'regression',
      classNames: [],
      rows: 2,
    });
    expect(Array.from(npy.values)).toEqual([0.5, 1.5]);
  });
});
