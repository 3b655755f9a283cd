/**
 * A file of precomputed teacher outputs, read into {@link Answers} in the data's row order: the teacher was run
 * elsewhere (another language, a paid API, last week) and its answers saved.
 *
 * Formats:
 * - .npy: `[N, classes]` floats (probabilities or logits, by the declared kind) or `[N]` labels (integer class
 *   indices, or strings that are class names). A regression teacher's values: `[N]` or `[N, outputs]`.
 * - .npz: one array named `probabilities`, `logits` or `labels` (its name is its kind: a declared kind must agree,
 *   or be 'auto'), and, to match rows by id, an array `ids` (or named as the id column) of strings or integers.
 * - .csv/.tsv: a header; the id column when matching by id; then either one column per class, named exactly as
 *   the data's classes (in any order: mapped by name), holding probabilities or logits, or one `label` column of
 *   class names. Regression: every other column is an output, in header order.
 * - .jsonl: one answer per line (an array, a class name, a class index, or `{ probabilities | logits | label }`);
 *   when matching by id, an object `{ <idColumn>: id, probabilities | logits | label: … }`.
 *
 * Rows are matched by order (the file has exactly the data's rows, in order) or, with an id column, by id (every
 * data id exactly once; an id the data lacks, a duplicate or a missing id is an error naming the file and line).
 * Every answer is then checked by {@link answersFrom}, the rules function results follow too.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import type { CsvError } from 'csv-parse';
import { parse as parseCsv } from 'csv-parse/sync';
import { unzipSync } from 'fflate';
import type * as Npy from 'npyjs' with { 'resolution-mode': 'import' };
import { describeValue } from '../core/errors';
import { ANSWER_KEYS, answersFrom, TeacherOutputError } from './answers';
import type { AnswerKind, Answers, DeclaredKind, TeacherTask } from './answers';

// npyjs is an ES module package with a CommonJS build; its types resolve to the ESM entry, so the types come in
// through a type-only import and the code through require, which picks the CommonJS build (as in eval/dataset.ts).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const npy = require('npyjs') as typeof Npy;

/** How to read an outputs file and match it to the data. */
export interface OutputsFileOptions {
  /** The declared kind ('auto': see answers.ts; an .npz array's name says its kind). */
  kind: DeclaredKind;
  /** Match rows by this id column (its values are compared as strings); absent: match by order. */
  idColumn?: string;
  /** The data's classes in order. */
  classNames: readonly string[];
  task: TeacherTask;
  /** Rows expected: the role's rows, in order. */
  rows: number;
  /** The data's ids in row order, as strings: required when idColumn is set. */
  ids?: readonly string[];
  /** The config path of the file, for messages (`teacher.path`). */
  where: string;
  /** The data the rows belong to, for messages (`data.train`); default "the data". */
  data?: string;
  /** Regression only: values per row (default 1). */
  outputs?: number;
}

/** A file's answers in file order, before they are matched to the data's rows. */
interface FileAnswers {
  answers: unknown[];
  /** Each answer's 1-based line (text files); null for arrays. */
  lines: number[] | null;
  /** Each answer's id, when matching by id. */
  ids: string[] | null;
  /** The kind to read the answers as: the declared one, or the one an .npz array's name gives. */
  kind: DeclaredKind;
}

/** Answers in the data's row order, with the line each came from. */
interface Ordered {
  answers: unknown[];
  lines: (number | null)[] | null;
}

type Reader = (bytes: Uint8Array, file: string, options: OutputsFileOptions) => FileAnswers;

const READERS: Record<string, Reader> = {
  '.npy': readNpyFile,
  '.npz': readNpzFile,
  '.csv': (bytes, file, options) => readTable(bytes, file, options, ','),
  '.tsv': (bytes, file, options) => readTable(bytes, file, options, '\t'),
  '.jsonl': readJsonLines,
};

/**
 * Reads a file of teacher outputs and returns its answers in the data's row order, validated.
 * Throws {@link TeacherOutputError} (source: the file) naming the line or row, what was expected and what was found.
 */
export async function readOutputsFile(file: string, options: OutputsFileOptions): Promise<Answers> {
  const extension = extname(file).toLowerCase();
  const reader = READERS[extension];
  if (reader === undefined) {
    const known = Object.keys(READERS).join(', ');
    fail(file, options, null, `unsupported file type ${extension || '(none)'}; expected one of ${known}`);
  }
  const found = reader(await readBytes(file, options), file, options);
  const ordered = options.idColumn === undefined ? inFileOrder(found, file, options) : matchIds(found, file, options);
  return answersFrom(ordered.answers, {
    kind: found.kind,
    classNames: options.classNames,
    firstRow: 0,
    source: file,
    task: options.task,
    outputs: options.outputs,
    where: options.where,
    lines: ordered.lines ?? undefined,
  });
}

function fail(file: string, options: OutputsFileOptions, line: number | null, detail: string, field?: string): never {
  throw new TeacherOutputError(file, null, line, detail, { where: options.where, field });
}

async function readBytes(file: string, options: OutputsFileOptions): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const detail =
      code === 'ENOENT'
        ? 'no such file'
        : code === 'EISDIR'
          ? 'a folder, not a file of teacher outputs'
          : `cannot read the file (${code ?? String(error)})`;
    throw new TeacherOutputError(file, null, null, detail, { where: options.where, cause: error });
  }
}

// ---------------------------------------------------------------- matching rows

function inFileOrder(found: FileAnswers, file: string, options: OutputsFileOptions): Ordered {
  const count = found.answers.length;
  if (count !== options.rows) {
    const data = options.data ?? 'the data';
    fail(
      file,
      options,
      null,
      `${count} rows for the ${options.rows} rows of ${data} (matched by order; set an id column to match by id)`,
    );
  }
  return { answers: found.answers, lines: found.lines };
}

/** Every data id exactly once: each answer goes to its id's row. */
function matchIds(found: FileAnswers, file: string, options: OutputsFileOptions): Ordered {
  const { ids: dataIds, idColumn = '' } = options;
  if (dataIds?.length !== options.rows) {
    throw new TypeError(`readOutputsFile: idColumn is set, so ids must hold the data's ${options.rows} ids`);
  }
  const fileIds = found.ids ?? [];
  const rowOf = rowsById(dataIds, file, options, idColumn);
  const data = options.data ?? 'the data';
  const fileIndex = new Array<number>(options.rows).fill(-1);
  // Text files name an id by its line (in the message's prefix); arrays by its position in the ids array.
  const named = (id: string, at: number) => `id ${JSON.stringify(id)}${found.lines === null ? ` (ids[${at}])` : ''}`;
  const placeOf = (at: number) => (found.lines === null ? `at ids[${at}]` : `on line ${found.lines[at] ?? '?'}`);
  fileIds.forEach((id, at) => {
    const line = found.lines?.[at] ?? null;
    const row = rowOf.get(id);
    if (row === undefined) {
      fail(file, options, line, `${named(id, at)} is not in the ${idColumn} column of ${data}`, idColumn);
    }
    const first = fileIndex[row] ?? -1;
    if (first >= 0) {
      const detail = `${named(id, at)} appears again (first ${placeOf(first)}); each id must appear once`;
      throw new TeacherOutputError(file, row, line, detail, { where: options.where, field: idColumn });
    }
    fileIndex[row] = at;
  });
  checkAllPresent(fileIndex, dataIds, file, options, idColumn);
  return {
    answers: fileIndex.map((at) => found.answers[at]),
    lines: found.lines === null ? null : fileIndex.map((at) => found.lines?.[at] ?? null),
  };
}

function rowsById(
  dataIds: readonly string[],
  file: string,
  options: OutputsFileOptions,
  idColumn: string,
): Map<string, number> {
  const rowOf = new Map<string, number>();
  dataIds.forEach((id, row) => {
    const first = rowOf.get(id);
    if (first !== undefined) {
      const detail = `the ${idColumn} column of ${options.data ?? 'the data'} holds ${JSON.stringify(id)} twice (rows ${first + 1} and ${row + 1}); ids must be unique to match teacher outputs by id`;
      throw new TeacherOutputError(file, row, null, detail, { where: options.where, field: idColumn });
    }
    rowOf.set(id, row);
  });
  return rowOf;
}

function checkAllPresent(
  fileIndex: readonly number[],
  dataIds: readonly string[],
  file: string,
  options: OutputsFileOptions,
  idColumn: string,
): void {
  const missing = fileIndex.flatMap((at, row) => (at < 0 ? [row] : []));
  const [row] = missing;
  if (row === undefined) return;
  const shown = missing.slice(0, 5).map((index) => JSON.stringify(dataIds[index]));
  const more = missing.length > shown.length ? ', …' : '';
  const detail = `no answer for ${idColumn} ${JSON.stringify(dataIds[row])} of ${options.data ?? 'the data'}; ids without an answer: ${missing.length} of ${dataIds.length} (${shown.join(', ')}${more})`;
  throw new TeacherOutputError(file, row, null, detail, { where: options.where, field: idColumn });
}

// ---------------------------------------------------------------- .npy and .npz

/** An .npy array's values: numbers (any numeric dtype) or strings (numpy's U and S dtypes). */
interface NpyArray {
  /** int64 stays BigInt here, so that large integer ids are read exactly; other numbers are float64. */
  values: Float64Array | Float32Array | BigInt64Array | BigUint64Array | string[];
  shape: number[];
  dtype: string;
}

const NUMERIC_DTYPES = new Set(['f2', 'f4', 'f8', 'i1', 'i2', 'i4', 'i8', 'u1', 'u2', 'u4', 'u8']);

function readNpyFile(bytes: Uint8Array, file: string, options: OutputsFileOptions): FileAnswers {
  if (options.idColumn !== undefined) {
    fail(
      file,
      options,
      null,
      'an .npy file holds no ids to match by; save an .npz with an ids array, or match by order',
    );
  }
  const array = parseNpy(bytes, file, options, null);
  return { answers: rowsOf(array, file, options, null, options.kind), lines: null, ids: null, kind: options.kind };
}

const NPZ_KINDS: readonly AnswerKind[] = ['probabilities', 'logits', 'labels'];

function readNpzFile(bytes: Uint8Array, file: string, options: OutputsFileOptions): FileAnswers {
  const members = unzipNpz(bytes, file, options);
  const names = Object.keys(members).map((name) => name.replace(/\.npy$/, ''));
  const present = NPZ_KINDS.filter((kind) => names.includes(kind));
  const [kind] = present;
  if (kind === undefined || present.length > 1) {
    const holds = names.length > 0 ? names.join(', ') : 'no arrays';
    const detail =
      kind === undefined
        ? `expected an array named probabilities, logits or labels; the archive holds ${holds}`
        : `expected one array named probabilities, logits or labels, found ${present.join(' and ')}: keep one`;
    fail(file, options, null, detail);
  }
  if (options.kind !== 'auto' && options.kind !== kind) {
    fail(
      file,
      options,
      null,
      `kind '${options.kind}' is declared, but the archive's array is named '${kind}'; rename the array, or declare kind '${kind}' (or 'auto')`,
    );
  }
  const array = parseNpy(memberBytes(members, kind), file, options, kind);
  const answers = rowsOf(array, file, options, kind, kind);
  const ids = npzIds(members, names, answers.length, file, options);
  return { answers, lines: null, ids, kind };
}

function memberBytes(members: Record<string, Uint8Array>, name: string): Uint8Array {
  return members[`${name}.npy`] ?? members[name] ?? new Uint8Array();
}

/** The archive's ids: an array named as the id column, else `ids`; only read (and required) with an id column. */
function npzIds(
  members: Record<string, Uint8Array>,
  names: readonly string[],
  rows: number,
  file: string,
  options: OutputsFileOptions,
): string[] | null {
  const { idColumn } = options;
  if (idColumn === undefined) {
    // Rows are matched by order here; ids that would go unused could hide an order that is not the data's.
    if (names.includes('ids')) {
      fail(
        file,
        options,
        null,
        "the archive has an 'ids' array, but no id column is set: set one to match rows by id, or remove the ids array to match by order",
      );
    }
    return null;
  }
  const name = names.includes(idColumn) ? idColumn : names.includes('ids') ? 'ids' : null;
  if (name === null) {
    fail(
      file,
      options,
      null,
      `expected an array named '${idColumn}' or 'ids' to match rows by id; the archive holds ${names.join(', ')}`,
      idColumn,
    );
  }
  const array = parseNpy(memberBytes(members, name), file, options, name);
  if (array.shape.length !== 1 || array.shape[0] !== rows) {
    fail(
      file,
      options,
      null,
      `${name}: expected shape [${rows}] (one id per row), received [${array.shape.join(', ')}]`,
      name,
    );
  }
  return idStrings(array, name, file, options);
}

function idStrings(array: NpyArray, name: string, file: string, options: OutputsFileOptions): string[] {
  const { values } = array;
  if (Array.isArray(values)) return values;
  if (values instanceof BigInt64Array || values instanceof BigUint64Array)
    return Array.from(values, (id) => String(id));
  if (!/^[iu]/.test(array.dtype)) {
    fail(file, options, null, `${name}: expected strings or integers, received dtype ${array.dtype}`, name);
  }
  return Array.from(values, (id) => String(id));
}

function unzipNpz(bytes: Uint8Array, file: string, options: OutputsFileOptions): Record<string, Uint8Array> {
  try {
    // fflate reads both stored (np.savez) and deflated (np.savez_compressed) entries.
    return unzipSync(bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TeacherOutputError(file, null, null, `not a valid .npz archive, or it is truncated (${detail})`, {
      where: options.where,
      cause: error,
    });
  }
}

/** The header fields of an .npy file (format 1.0, 2.0 or 3.0). */
interface NpyHeader {
  descr: string;
  fortranOrder: boolean;
  shape: number[];
  dataOffset: number;
}

function npyHeader(bytes: Uint8Array): NpyHeader | null {
  const magic = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
  if (bytes.length < 10 || magic.some((byte, at) => bytes[at] !== byte)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6] ?? 0;
  const [length, start] = major <= 1 ? [view.getUint16(8, true), 10] : [view.getUint32(8, true), 12];
  const text = Buffer.from(bytes.subarray(start, start + length)).toString('latin1');
  const descr = /'descr'\s*:\s*'([^']+)'/.exec(text)?.[1];
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(text)?.[1];
  if (descr === undefined || shape === undefined) return null;
  return {
    descr,
    fortranOrder: /'fortran_order'\s*:\s*True/.test(text),
    shape: shape
      .split(',')
      .map((size) => size.trim())
      .filter((size) => size !== '')
      .map(Number),
    dataOffset: start + length,
  };
}

function parseNpy(bytes: Uint8Array, file: string, options: OutputsFileOptions, member: string | null): NpyArray {
  const named = member === null ? '' : `${member}: `;
  const header = npyHeader(bytes);
  if (header === null) fail(file, options, null, `${named}not a valid .npy array (no NumPy header)`);
  const { descr, shape } = header;
  if (header.fortranOrder && shape.length > 1) {
    fail(file, options, null, `${named}Fortran-ordered arrays are not supported; save it C-ordered`);
  }
  const size = shape.reduce((total, length) => total * length, 1);
  const text = /^[<|]([US])(\d+)$/.exec(descr);
  const values = text
    ? decodeStrings(bytes.subarray(header.dataOffset), text[1] === 'U' ? 4 : 1, Number(text[2]), size)
    : numericValues(bytes, file, options, named, descr);
  if (values.length !== size) {
    fail(
      file,
      options,
      null,
      `${named}truncated: shape [${shape.join(', ')}] needs ${size} values, the file holds ${values.length}`,
    );
  }
  return { values, shape, dtype: descr.slice(1) };
}

function numericValues(
  bytes: Uint8Array,
  file: string,
  options: OutputsFileOptions,
  named: string,
  descr: string,
): NpyArray['values'] {
  if (!/^[<|]/.test(descr) || !NUMERIC_DTYPES.has(descr.slice(1))) {
    const hint = descr.includes('O') ? ' (object arrays are pickled: save strings as np.array(ids, dtype=str))' : '';
    fail(file, options, null, `${named}unsupported dtype ${descr}; expected little-endian numbers or strings${hint}`);
  }
  let parsed: Npy.NpyArray;
  try {
    // A fresh, 0-offset ArrayBuffer (a copy): npyjs builds aligned typed-array views on it.
    parsed = npy.parse(new Uint8Array(bytes).buffer);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TeacherOutputError(file, null, null, `${named}not a valid .npy array (${detail})`, {
      where: options.where,
      cause: error,
    });
  }
  const { data } = parsed;
  if (data instanceof Float32Array || data instanceof Float64Array) return data;
  if (data instanceof BigInt64Array || data instanceof BigUint64Array) return data;
  return Float64Array.from(data as unknown as ArrayLike<number>);
}

/** numpy's fixed-width strings: U is UTF-32 code points, S is bytes (read as UTF-8); both padded with zeros. */
function decodeStrings(data: Uint8Array, unit: number, width: number, count: number): string[] {
  const stride = unit * width;
  const available = width === 0 ? count : Math.min(count, Math.floor(data.length / stride));
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const strings: string[] = [];
  for (let item = 0; item < available; item++) {
    const start = item * stride;
    if (unit === 1) {
      const end = data.subarray(start, start + stride).indexOf(0);
      strings.push(Buffer.from(data.subarray(start, end < 0 ? start + stride : start + end)).toString('utf8'));
      continue;
    }
    let text = '';
    for (let at = 0; at < width; at++) {
      const code = view.getUint32(start + at * 4, true);
      if (code === 0) break;
      text += String.fromCodePoint(code);
    }
    strings.push(text);
  }
  return strings;
}

/** Answers are float32 in the end: int64 values become numbers (class indices are small; logits are never int64). */
function numbersOf(values: NpyArray['values']): Float64Array | Float32Array | string[] {
  return values instanceof BigInt64Array || values instanceof BigUint64Array
    ? Float64Array.from(values, Number)
    : values;
}

/**
 * An array's rows as raw answers: `[N, C]` → one row of C numbers each; `[N]` → one label (classification) or one
 * value (regression) each. The shape must fit the kind: the row check would name every row instead.
 */
function rowsOf(
  array: NpyArray,
  file: string,
  options: OutputsFileOptions,
  member: string | null,
  kind: DeclaredKind,
): unknown[] {
  const { shape } = array;
  const values = numbersOf(array.values);
  const named = member === null ? '' : `${member}: `;
  const [rows = 0, width] = shape;
  const classification = options.task === 'classification';
  if (shape.length === 1 && (!classification || kind === 'auto' || kind === 'labels'))
    return Array.from(values as ArrayLike<string | number>);
  if (shape.length === 2 && width !== undefined && !Array.isArray(values) && kind !== 'labels') {
    return Array.from({ length: rows }, (_, row) => values.subarray(row * width, (row + 1) * width));
  }
  const classes = classification ? options.classNames.length : (options.outputs ?? 1);
  const expected =
    kind === 'labels'
      ? 'shape [N] (one class index or class name per row)'
      : classification && kind !== 'auto'
        ? `shape [N, ${classes}] of numbers (one ${kind === 'logits' ? 'logit' : 'probability'} per class)`
        : `shape [N, ${classes}] of numbers${classification ? ' (probabilities or logits) or [N] (labels)' : ' or [N]'}`;
  fail(file, options, null, `${named}expected ${expected}, received [${shape.join(', ')}] of ${array.dtype}`);
}

// ---------------------------------------------------------------- .csv and .tsv

interface CsvRecord {
  record: string[];
  info: { lines: number };
}

function readTable(bytes: Uint8Array, file: string, options: OutputsFileOptions, delimiter: string): FileAnswers {
  const records = parseTable(bytes, file, options, delimiter);
  const [head, ...body] = records;
  if (head === undefined) fail(file, options, null, 'empty file: expected a header line');
  const header = head.record;
  const duplicate = header.find((name, at) => header.indexOf(name) !== at);
  if (duplicate !== undefined)
    fail(file, options, 1, `column ${JSON.stringify(duplicate)} appears twice in the header`);
  const idAt = idColumnIndex(header, file, options);
  const answerOf = answerReader(header, idAt, file, options);
  return {
    answers: body.map(({ record }) => answerOf(record)),
    lines: body.map(({ record, info }) => info.lines - newlinesIn(record)),
    ids: idAt < 0 ? null : body.map(({ record }) => record[idAt] ?? ''),
    kind: options.kind,
  };
}

function parseTable(bytes: Uint8Array, file: string, options: OutputsFileOptions, delimiter: string): CsvRecord[] {
  try {
    // info: each record with the line it ends on, for messages.
    return parseCsv(bytes, { delimiter, bom: true, skip_empty_lines: true, info: true }) as unknown as CsvRecord[];
  } catch (error) {
    const csv = error as CsvError;
    const line = typeof csv.lines === 'number' ? csv.lines : null;
    // csv-parse's messages end with "at line N"; the line is in ours already.
    const detail = csv.message.replace(/\s*(at|on) line \d+[^,:;]*/i, '');
    throw new TeacherOutputError(file, null, line, `malformed ${delimiter === '\t' ? 'TSV' : 'CSV'}: ${detail}`, {
      where: options.where,
      cause: error,
    });
  }
}

/** A record ends on info.lines; cells with line breaks in them started it earlier. */
function newlinesIn(record: readonly string[]): number {
  return record.reduce((total, cell) => total + (cell.match(/\n/g)?.length ?? 0), 0);
}

function idColumnIndex(header: readonly string[], file: string, options: OutputsFileOptions): number {
  const { idColumn } = options;
  if (idColumn === undefined) return -1;
  const at = header.indexOf(idColumn);
  if (at < 0) {
    fail(
      file,
      options,
      1,
      `expected an id column ${JSON.stringify(idColumn)}; the header has ${quoteAll(header)}`,
      idColumn,
    );
  }
  return at;
}

/**
 * How a record becomes an answer, from the header: class columns (mapped by name) holding probabilities or
 * logits, a `label` column of class names, or (regression) every other column as an output.
 */
function answerReader(
  header: readonly string[],
  idAt: number,
  file: string,
  options: OutputsFileOptions,
): (record: readonly string[]) => unknown {
  const others = header.filter((_, at) => at !== idAt);
  if (options.task === 'regression') {
    const outputs = options.outputs ?? 1;
    if (others.length !== outputs) {
      fail(
        file,
        options,
        1,
        `expected ${outputs} output column(s) besides the id column, the header has ${quoteAll(others)}`,
      );
    }
    const columns = others.map((name) => header.indexOf(name));
    return (record) => columns.map((at) => cellValue(record[at]));
  }
  const { classNames, kind } = options;
  const hasAllClasses = classNames.every((name) => others.includes(name));
  if (kind === 'labels' || (kind === 'auto' && !hasAllClasses && others.includes('label'))) {
    const at = header.indexOf('label');
    if (at < 0) {
      fail(
        file,
        options,
        1,
        `expected a 'label' column of class names (kind 'labels'); the header has ${quoteAll(header)}`,
        'label',
      );
    }
    checkOnly(others, ['label'], file, options, "a 'label' column of class names", 'is not expected beside it');
    // A label cell is a class name, even when it looks like a number: class names such as "0".."9" are common.
    return (record) => record[at];
  }
  const missing = classNames.filter((name) => !others.includes(name));
  if (missing.length > 0) {
    const orLabel = kind === 'auto' ? ", or a 'label' column of class names" : '';
    fail(
      file,
      options,
      1,
      `expected a column per class (${quoteAll(classNames)})${orLabel}; no column for ${quoteAll(missing)}`,
      missing[0],
    );
  }
  checkOnly(
    others,
    classNames,
    file,
    options,
    `a column per class (${quoteAll(classNames)})`,
    'is not a class of the data',
  );
  const columns = classNames.map((name) => header.indexOf(name));
  return (record) => columns.map((at) => cellValue(record[at]));
}

/** Columns other than the id column must be the expected ones: an unknown column is an error, never skipped. */
function checkOnly(
  columns: readonly string[],
  allowed: readonly string[],
  file: string,
  options: OutputsFileOptions,
  expected: string,
  why: string,
): void {
  const unknown = columns.filter((name) => !allowed.includes(name));
  const [first] = unknown;
  if (first === undefined) return;
  const hint = options.idColumn === undefined ? '; set an id column if one holds ids' : '';
  const named = unknown.length > 1 ? `columns ${quoteAll(unknown)}: each` : `column ${JSON.stringify(first)}`;
  fail(file, options, 1, `expected ${expected}; ${named} ${why}${hint}`, first);
}

function quoteAll(names: readonly string[]): string {
  return names.map((name) => JSON.stringify(name)).join(', ');
}

/**
 * A number when the cell is one, else the text, so that the row check names it ("received string "abc""):
 * an empty cell is never read as 0. NaN and inf as numpy and pandas write them become NaN and ±Infinity,
 * which the row check names too.
 */
function cellValue(cell: string | undefined): unknown {
  if (cell === undefined) return undefined;
  const text = cell.trim();
  if (/^[+-]?nan$/i.test(text)) return Number.NaN;
  if (/^[+-]?inf(inity)?$/i.test(text)) return text.startsWith('-') ? -Infinity : Infinity;
  const value = Number(text);
  return text === '' || Number.isNaN(value) ? cell : value;
}

// ---------------------------------------------------------------- .jsonl

function readJsonLines(bytes: Uint8Array, file: string, options: OutputsFileOptions): FileAnswers {
  const text = decodeUtf8(bytes, file, options);
  const answers: unknown[] = [];
  const lines: number[] = [];
  const ids: string[] = [];
  text.split('\n').forEach((raw, at) => {
    if (raw.trim() === '') return;
    const line = at + 1;
    const value = parseJsonLine(raw, line, file, options);
    if (options.idColumn === undefined) {
      checkNoExtraKeys(value, line, file, options);
      answers.push(value);
    } else {
      const [id, answer] = splitId(value, options.idColumn, line, file, options);
      ids.push(id);
      answers.push(answer);
    }
    lines.push(line);
  });
  return { answers, lines, ids: options.idColumn === undefined ? null : ids, kind: options.kind };
}

function decodeUtf8(bytes: Uint8Array, file: string, options: OutputsFileOptions): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch (error) {
    throw new TeacherOutputError(file, null, null, 'not valid UTF-8 text', { where: options.where, cause: error });
  }
}

function parseJsonLine(raw: string, line: number, file: string, options: OutputsFileOptions): unknown {
  try {
    return JSON.parse(raw);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new TeacherOutputError(file, null, line, `not valid JSON (${detail})`, {
      where: options.where,
      cause: error,
    });
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Without an id column, an object's keys other than an answer's are an error: likely ids matched by order. */
function checkNoExtraKeys(value: unknown, line: number, file: string, options: OutputsFileOptions): void {
  if (!isObject(value)) return;
  const extra = Object.keys(value).filter((key) => !(ANSWER_KEYS as readonly string[]).includes(key));
  if (extra.length === 0) return;
  fail(
    file,
    options,
    line,
    `expected an answer with only probabilities, logits or label, received the key(s) ${quoteAll(extra)} too; set an id column to match rows by id`,
    extra[0],
  );
}

/** `{ <idColumn>: id, probabilities | logits | label: … }` → the id as a string, and the rest as the answer. */
function splitId(
  value: unknown,
  idColumn: string,
  line: number,
  file: string,
  options: OutputsFileOptions,
): [string, unknown] {
  if (!isObject(value) || !(idColumn in value)) {
    const received = isObject(value) ? `an object with keys ${quoteAll(Object.keys(value))}` : describeValue(value);
    fail(
      file,
      options,
      line,
      `expected an object with an ${JSON.stringify(idColumn)} key and the answer, received ${received}`,
      idColumn,
    );
  }
  const { [idColumn]: id, ...answer } = value;
  if (typeof id === 'string') return [id, answer];
  if (typeof id === 'number' && Number.isInteger(id)) return [String(id), answer];
  fail(file, options, line, `${idColumn}: expected a string or an integer id, received ${describeValue(id)}`, idColumn);
}
