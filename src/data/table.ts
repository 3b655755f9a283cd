/**
 * Tables: CSV, TSV and JSON lines → encoded arrays for the engine (the encoding: src/preprocess/table.ts).
 *
 * Each split is read once, streaming, into compact columns (src/data/table-store.ts). The encoding is fitted
 * on data.train's columns — kinds inferred or declared, numeric fills, boolean shares, sorted categories —
 * then applied to every split through `encodeValue`, once per distinct value of a column (and per cell for
 * numeric columns of many distinct values), and the results copied row by row into the .npy buffer that is
 * written. Every check runs before anything is written: a mistake leaves no file behind.
 *
 * A text column (at most one, src/data/text.ts) is stored as strings, not codes, fitted last — its tokenizer, the one
 * file written before the encoding — and placed after every fixed-width column: a row is `[fixed slots | maxLength
 * token ids]`, the ids written by src/preprocess/text.ts.
 *
 * Errors: a config that does not fit the file (a label, feature or `columns` name the file does not have;
 * data.labels of the wrong length) is a ConfigError naming the config path; a file whose contents are wrong
 * (malformed CSV, a non-number in a numeric column, an empty file, a class data.train never had) is a
 * DatasetError naming the file and line.
 */
import * as path from 'node:path';
import { Zip, ZipPassThrough } from 'fflate';
import { ConfigError, type ConfigIssue } from '../config/errors';
import { TextOptions, type AugmentedTransferConfig, type DataConfig, type TableSourceConfig } from '../config/schema';
import { augmentTexts, maskingTokenizer } from './augment';
import { DatasetError, datasetFromArrays, type Dataset } from '../eval/dataset';
import { writeFileAtomic } from '../io/files';
import { npyBytes } from '../io/npy';
import type { TableColumnSpec, TablePreprocessSpec, TableRow } from '../preprocess/spec';
import {
  compileTable,
  encodeValue,
  parseBoolean,
  parseNumber,
  type CompiledColumn,
  type CompiledTable,
} from '../preprocess/table';
import { InputValidationError } from '../core/errors';
import { required } from '../core/required';
import {
  CHUNK,
  MAX_CODES,
  cellClass,
  isNonFiniteText,
  listNames,
  nonFiniteMessage,
  readTable,
  tableFormat,
  type ColumnHint,
  type StoredColumn,
  type StorePlan,
  type TableFormat,
  type TableStore,
} from './table-store';
import {
  TEXT_RULE,
  TOKENIZER_FILE,
  encodeTexts,
  inferText,
  inferredTextNote,
  prepareTokenizer,
  textStats,
  twoTextColumns,
  type EngineProvider,
  type PreparedTokenizer,
  type TextSummary,
} from './text';
import type { EngineDataConfig, PreparedData, Role } from './types';

type TextColumnSpec = Extract<TableColumnSpec, { type: 'text' }>;

/** One-hot inputs a categorical column may have. */
export const MAX_CATEGORIES = 10_000;

type Task = DataConfig['task'];

/** Numbers in numeric order when every value is one, else by UTF-16 code units (the same on every machine). */
export function sortValues(values: readonly string[]): string[] {
  const numbers = values.map(parseNumber);
  const byText = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);
  if (values.length > 0 && numbers.every((value) => value === value)) {
    return values
      .map((value, index) => ({ value, number: numbers[index] ?? NaN }))
      .sort((a, b) => a.number - b.number || byText(a.value, b.value))
      .map((entry) => entry.value);
  }
  return [...values].sort(byText);
}

function labelColumns(label: string | string[] | undefined): string[] {
  return label === undefined ? [] : typeof label === 'string' ? [label] : [...label];
}

function formatOf(source: TableSourceConfig, where: string): TableFormat {
  const format = tableFormat(source.path, source.format);
  if (!format) {
    throw new ConfigError([
      {
        path: `${where}.format`,
        message: `cannot tell the format of ${source.path} from its extension (.csv, .tsv, .jsonl, each optionally .gz): set format`,
      },
    ]);
  }
  if (format === 'jsonl' && source.delimiter !== undefined) {
    throw new ConfigError([
      {
        path: `${where}.delimiter`,
        message: `${source.path} is JSON lines, which have no field separator: leave it out`,
      },
    ]);
  }
  return format;
}

function fileFormat(file: string): TableFormat {
  const format = tableFormat(file);
  if (!format) throw new DatasetError(file, null, 'not a table file: expected .csv, .tsv or .jsonl (optionally .gz)');
  return format;
}

// ---------------------------------------------------------------- fitting on data.train

/** The config's column names that the file lacks, as ConfigError issues (`data.train.label`, `…features[2]`, `…columns.x`). */
function columnIssues(
  names: readonly string[],
  source: TableSourceConfig,
  targets: readonly string[],
  where: string,
): ConfigIssue[] {
  const has = new Set(names);
  const theirs = `(its columns: ${listNames(names)})`;
  const issues: ConfigIssue[] = [];
  for (const target of targets) {
    if (!has.has(target))
      issues.push({ path: `${where}.label`, message: `no column "${target}" in ${source.path} ${theirs}` });
  }
  (source.features ?? []).forEach((feature, index) => {
    if (!has.has(feature))
      issues.push({
        path: `${where}.features[${index}]`,
        message: `no column "${feature}" in ${source.path} ${theirs}`,
      });
    else if (targets.includes(feature))
      issues.push({
        path: `${where}.features[${index}]`,
        message: `"${feature}" is the label column; it cannot also be an input`,
      });
  });
  for (const name of Object.keys(source.columns)) {
    if (!has.has(name))
      issues.push({ path: `${where}.columns.${name}`, message: `no column "${name}" in ${source.path} ${theirs}` });
    else if (targets.includes(name))
      issues.push({ path: `${where}.columns.${name}`, message: `"${name}" is the label column, not an input` });
    else if (source.features && !source.features.includes(name)) {
      issues.push({ path: `${where}.columns.${name}`, message: `"${name}" is not one of ${where}.features` });
    }
  }
  return issues;
}

/** At least this share of a column's non-missing cells are numbers, and not all: an error naming the others. */
export const MOSTLY_NUMERIC = 0.9;
/** Distinct values per non-missing cell from which a categorical column is nearly one category per row: a warning. */
export const NEARLY_UNIQUE = 0.9;
/** Non-missing cells a column needs before it is called nearly one category per row. */
export const NEARLY_UNIQUE_MIN_CELLS = 20;

/** Distinct values of a stored column with how many cells hold each and the line of the first. */
interface CellGroup {
  readonly text: string;
  readonly line: number;
  readonly count: number;
}

function cellGroups(store: TableStore, column: StoredColumn, keep: (text: string) => boolean): CellGroup[] {
  const groups: CellGroup[] = [];
  column.keys.forEach((text, index) => {
    if (!keep(text)) return;
    const line = store.lineOf(required(column.firstRow[index], 'the first row of a value'));
    groups.push({ text, line, count: column.counts[index + 1] ?? 0 });
  });
  return groups.sort((a, b) => a.line - b.line);
}

function describeGroups(groups: readonly CellGroup[]): string {
  const shown = groups
    .slice(0, 5)
    .map(({ text, line, count }) =>
      count === 1
        ? `${JSON.stringify(text)} (line ${line})`
        : `${JSON.stringify(text)} (${count} cells, the first on line ${line})`,
    );
  return shown.join(', ') + (groups.length > 5 ? `, … (${groups.length} distinct values in all)` : '');
}

/** A config path to a column's entry in `columns`. */
function columnPath(where: string, name: string): string {
  return /^[A-Za-z_$][\w$]*$/.test(name) ? `${where}.columns.${name}` : `${where}.columns[${JSON.stringify(name)}]`;
}

/**
 * An inferred categorical column whose cells are numbers but for a few (one `Infinity` or `?` among 200
 * numbers) is a DatasetError naming those cells and the fixes: it is never silently one-hot encoded.
 */
function checkMostlyNumbers(store: TableStore, column: StoredColumn, source: TableSourceConfig, where: string): void {
  const markers = new Set(source.missing.markers);
  const texts = cellGroups(store, column, (text) => cellClass(text, markers) === 'text');
  const textCells = texts.reduce((sum, group) => sum + group.count, 0);
  const present = store.rows - column.missing;
  if (textCells === present || textCells > (1 - MOSTLY_NUMERIC) * present) return;
  const name = column.name;
  throw new DatasetError(
    store.file,
    null,
    `column "${name}" holds numbers but for ${textCells} of its ${present} non-empty cells: ${describeGroups(texts)}; if they mean missing values, list them in ${where}.missing.markers; if the column is categorical, declare it with ${columnPath(where, name)}: 'categorical'; else correct the cells`,
  );
}

/**
 * A categorical column with nearly one category per row (an id, a timestamp, free text) cannot generalise to
 * new rows: a warning with the fix, unless its kind was declared. (A text kind would take such columns.)
 */
function nearlyUniqueWarning(column: StoredColumn, categories: number, where: string): string | null {
  const present = column.store.rows - column.missing;
  if (present < NEARLY_UNIQUE_MIN_CELLS || categories < NEARLY_UNIQUE * present) return null;
  return `${where}: column "${column.name}" has ${categories.toLocaleString('en-US')} distinct values in its ${present.toLocaleString('en-US')} non-empty cells, nearly one per row (an id, a timestamp or free text?): one-hot categories of it cannot generalise to new rows; leave it out with ${where}.features, or declare it with ${columnPath(where, column.name)}: 'categorical' to keep it`;
}

function fitColumn(
  store: TableStore,
  name: string,
  source: TableSourceConfig,
  warnings: string[],
  where = 'data.train',
): TableColumnSpec {
  const column = required(store.byName.get(name), `the stored column "${name}"`);
  const present = store.rows - column.missing;
  if (present === 0) {
    throw new DatasetError(
      store.file,
      null,
      `column "${name}" is empty in every row: leave it out with data.train.features`,
    );
  }
  const declared = source.columns[name];
  if (column.texts) {
    throw new DatasetError(
      store.file,
      null,
      `column "${name}" has more than ${MAX_CODES.toLocaleString('en-US')} distinct values, too many for a categorical column, and does not read as text (${TEXT_RULE}): leave it out with ${where}.features, or declare it with ${columnPath(where, name)}: 'text'`,
    );
  }
  const kind = declared ?? (column.floats || column.numeric ? 'numeric' : column.boolean ? 'boolean' : 'categorical');
  if (kind === 'text')
    throw new Error(`fitColumn: the text column "${name}" is not a fixed-width column (src/data/text.ts)`);
  if (kind === 'numeric' && column.codes && source.missing.nonFinite === 'error') {
    const nonFinite = cellGroups(store, column, isNonFiniteText);
    if (nonFinite.length > 0) throw new DatasetError(store.file, null, nonFiniteMessage(name, nonFinite, where));
  }
  if (kind === 'categorical' && declared === undefined) checkMostlyNumbers(store, column, source, where);
  if (kind === 'numeric') {
    const missing = source.missing.numeric;
    return { name, type: 'numeric', fill: missing === 'mean' ? column.mean() : missing.constant };
  }
  if (kind === 'boolean') {
    let trues = 0;
    column.keys.forEach((key, index) => {
      if (parseBoolean(key) === 1) trues += column.counts[index + 1] ?? 0;
    });
    return { name, type: 'boolean', fill: trues / present };
  }
  const categories = sortValues(column.keys);
  if (categories.length > MAX_CATEGORIES) {
    throw new DatasetError(
      store.file,
      null,
      `column "${name}" has ${categories.length.toLocaleString('en-US')} distinct values, more than the ${MAX_CATEGORIES.toLocaleString('en-US')} one-hot inputs a categorical column may have: leave it out with data.train.features, or declare it numeric`,
    );
  }
  const warning = declared === undefined ? nearlyUniqueWarning(column, categories.length, where) : null;
  if (warning !== null) warnings.push(warning);
  const missingCategory = column.missing > 0 ? '' : null;
  if (missingCategory !== null) categories.push(missingCategory);
  return { name, type: 'categorical', categories, missingCategory, unseen: source.unseen };
}

// ---------------------------------------------------------------- encoding a stored split

interface ColumnPlan {
  readonly column: CompiledColumn;
  readonly stored: StoredColumn;
  /** Codes mode: the encoding of each code (code 0: a missing cell), `column.width` values each. */
  readonly memo: Float32Array | null;
}

/**
 * Encodes every distinct value of every column once, so that each problem is found (and named) before anything
 * is written. `missingText`: the texts a numeric column reads as missing (markers, non-finite numbers as declared).
 */
function planColumns(
  store: TableStore,
  table: CompiledTable,
  missingText: (text: string) => boolean = () => false,
): ColumnPlan[] {
  return table.columns.map((column) => {
    const stored = store.byName.get(column.name) ?? store.column(column.name); // a JSON-lines key no row has: all missing
    if (!stored.codes) return { column, stored, memo: null };
    const width = column.width;
    const memo = new Float32Array((stored.keys.length + 1) * width);
    const encode = (code: number, value: string | null, row: number): void => {
      try {
        encodeValue(column, value, memo, code * width, 'row');
      } catch (error) {
        if (!(error instanceof InputValidationError)) throw error;
        store.fail(row, `column "${column.name}": expected ${error.expected}, received ${error.received}`);
      }
    };
    if (stored.missing > 0) encode(0, null, stored.firstMissingRow);
    const numeric = column.spec.type === 'numeric';
    stored.keys.forEach((key, index) => {
      const value = numeric && missingText(key) ? null : key;
      encode(index + 1, value, required(stored.firstRow[index], 'the first row of a value'));
    });
    return { column, stored, memo };
  });
}

/**
 * Writes the encoded rows into `x` (rows × width), a block of CHUNK rows at a time; `release` frees each block
 * of stored columns once copied, so the stored columns shrink while the encoded array grows.
 */
function encodeColumns(
  store: TableStore,
  plans: readonly ColumnPlan[],
  width: number,
  x: Float32Array,
  release: boolean,
): void {
  for (let chunk = 0, start = 0; start < store.rows; chunk++, start += CHUNK) {
    const count = Math.min(CHUNK, store.rows - start);
    for (const { column, stored, memo } of plans) {
      const slot = column.slot;
      const columnWidth = column.width;
      if (memo) {
        const codes = stored.codesAt(chunk);
        for (let i = 0; i < count; i++) {
          const from = (codes[i] ?? 0) * columnWidth;
          const to = (start + i) * width + slot;
          for (let j = 0; j < columnWidth; j++) x[to + j] = memo[from + j] ?? 0;
        }
      } else {
        const values = stored.floatsAt(chunk);
        for (let i = 0; i < count; i++) {
          const value = values[i] ?? NaN;
          encodeValue(column, value === value ? value : null, x, (start + i) * width + slot, 'row');
        }
      }
    }
    if (release) for (const { stored } of plans) stored.dropChunk(chunk);
  }
}

/** The class index of each code of a label column; a value that is not a class is a DatasetError naming its line. */
function classCodes(
  store: TableStore,
  stored: StoredColumn,
  classes: ReadonlyMap<string, number>,
  whose: string,
): Int32Array {
  const codes = new Int32Array(stored.keys.length + 1).fill(-1);
  stored.keys.forEach((key, index) => {
    const found = classes.get(key);
    if (found === undefined) {
      store.fail(
        required(stored.firstRow[index], 'the first row of a value'),
        `label ${JSON.stringify(key)} is not one of ${whose} classes (${listNames([...classes.keys()])})`,
      );
    }
    codes[index + 1] = found;
  });
  return codes;
}

function classIndices(store: TableStore, stored: StoredColumn, codes: Int32Array, out: Int32Array): void {
  stored.eachCode(store.rows, (start, chunk, count) => {
    for (let i = 0; i < count; i++) out[start + i] = codes[chunk[i] ?? 0] ?? -1;
  });
}

function targetValues(store: TableStore, columns: readonly StoredColumn[], out: Float32Array): void {
  const width = columns.length;
  columns.forEach((stored, k) => {
    if (stored.codes) {
      const values = Float32Array.from([NaN, ...stored.keys.map(parseNumber)]);
      stored.eachCode(store.rows, (start, chunk, count) => {
        for (let i = 0; i < count; i++) out[(start + i) * width + k] = values[chunk[i] ?? 0] ?? NaN;
      });
    } else {
      stored.eachFloat(store.rows, (start, chunk, count) => {
        for (let i = 0; i < count; i++) out[(start + i) * width + k] = chunk[i] ?? NaN;
      });
    }
  });
}

/** An .npy file's bytes with room for `count` values after npyBytes' header for `shape`, and a view of that room. */
function npyBuffer<T extends Float32Array | BigInt64Array>(
  make: (buffer: ArrayBuffer, offset: number, length: number) => T,
  empty: T,
  shape: number[],
): { bytes: Uint8Array; data: T } {
  const header = npyBytes(empty, shape); // an empty array's .npy: the header alone (padded to a 64-byte boundary)
  const count = shape.reduce((a, b) => a * b, 1);
  const bytes = new Uint8Array(header.length + count * empty.BYTES_PER_ELEMENT);
  bytes.set(header);
  return { bytes, data: make(bytes.buffer, header.length, count) };
}

/**
 * A split's raw text cells as `<dir>/data/<role>-texts.jsonl` (one JSON string per row, in row order, '' for a
 * missing cell): the input of a teacher with its own tokenizer (python/distillery/text_teachers.py). Returns its path.
 */
export function writeTexts(dir: string, role: Role, texts: readonly string[]): string {
  const file = path.join(dir, 'data', `${role}-texts.jsonl`);
  writeFileAtomic(file, texts.map((text) => `${JSON.stringify(text)}\n`).join(''));
  return file;
}

/**
 * Writes an .npz (stored, uncompressed, as np.savez and src/facade/arrays.ts write it) without joining it into
 * one buffer: fflate's streaming Zip passes each array's bytes through as they are, and writeFileAtomic writes
 * the chunks — zipSync would hold a second copy of the whole archive, doubling the peak memory of a big table.
 */

function writeNpz(file: string, arrays: Record<string, Uint8Array>): void {
  const chunks: Uint8Array[] = [];
  const zip = new Zip((error, chunk) => {
    if (error) throw error;
    chunks.push(chunk);
  });
  for (const [name, bytes] of Object.entries(arrays)) {
    const entry = new ZipPassThrough(name);
    zip.add(entry);
    entry.push(bytes, true);
  }
  zip.end();
  writeFileAtomic(file, chunks);
}

// ---------------------------------------------------------------- prepareTables

interface SplitPlan {
  readonly role: Role;
  readonly store: TableStore;
  readonly columns: ColumnPlan[];
  /** Classification: the label column and its code → class index; regression: the target columns. */
  readonly label: { stored: StoredColumn; codes: Int32Array } | null;
  readonly targets: StoredColumn[] | null;
}

/** How a split's file is read: its own encoding and separator, data.train's missing values (the fitted encoding's). */
function readingOptions(source: TableSourceConfig, train: TableSourceConfig, where: string): Partial<StorePlan> {
  return {
    where,
    encoding: source.encoding,
    delimiter: source.delimiter,
    markers: new Set(train.missing.markers),
    nonFinite: train.missing.nonFinite,
  };
}

const ENCODING_OPTIONS = ['features', 'columns', 'missing', 'unseen', 'text'] as const;
const ENCODING_DEFAULTS: Record<(typeof ENCODING_OPTIONS)[number], string> = {
  text: JSON.stringify(TextOptions.parse({})),
  features: JSON.stringify(undefined),
  columns: JSON.stringify({}),
  missing: JSON.stringify({ numeric: 'mean', markers: [], nonFinite: 'error' }),
  unseen: JSON.stringify('zeros'),
};

/**
 * Encodes data.train and the other table splits into `<dir>/data/<role>-encoded.npz`; a text column's tokenizer is
 * fitted through `engine` (started only then) or read from the user's file, into `<dir>/data/tokenizer.json`.
 */
export async function prepareTables(
  data: DataConfig,
  tables: [Role, TableSourceConfig][],
  dir: string,
  engine: EngineProvider,
): Promise<PreparedData> {
  const train = data.train as TableSourceConfig; // prepareData has checked that data.train is a table
  const task: Task = data.task;
  const targets = labelColumns(train.label);
  const issues: ConfigIssue[] = [];
  if (targets.length === 0) {
    issues.push({
      path: 'data.train.label',
      message:
        'expected the label column (classification) or target column(s) (regression): the training data needs labels',
    });
  } else if (task === 'classification' && targets.length > 1) {
    issues.push({
      path: 'data.train.label',
      message: `expected one label column for classification, got ${targets.length} (several target columns are for data.task: regression)`,
    });
  }
  if (!train.labelled)
    issues.push({ path: 'data.train.labelled', message: 'the training data needs its labels (labelled: true)' });
  for (const [role, source] of tables) {
    if (role === 'train') continue;
    for (const option of ENCODING_OPTIONS) {
      const value = JSON.stringify(source[option]);
      if (value !== ENCODING_DEFAULTS[option] && value !== JSON.stringify(train[option])) {
        issues.push({
          path: `data.${role}.${option}`,
          message: `the encoding is fitted on data.train: set ${option} there (here it may only repeat data.train's)`,
        });
      }
    }
    const splitTargets = labelColumns(source.label ?? train.label);
    if (source.label !== undefined && splitTargets.length !== targets.length) {
      issues.push({
        path: `data.${role}.label`,
        message: `expected ${targets.length} column${targets.length === 1 ? '' : 's'}, like data.train.label`,
      });
    }
  }
  if (issues.length > 0) throw new ConfigError(issues);

  // data.train: read, check against the config, fit.
  const trainFormat = formatOf(train, 'data.train');
  const hints = new Map<string, ColumnHint>(Object.entries(train.columns));
  for (const target of targets) hints.set(target, task === 'classification' ? 'label' : 'numeric');
  const checkTrain = (names: readonly string[]): void => {
    const problems = columnIssues(names, train, targets, 'data.train');
    if (problems.length > 0) throw new ConfigError(problems);
  };
  const trainStore = await readTable(train.path, trainFormat, {
    ...readingOptions(train, train, 'data.train'),
    wanted: train.features ? new Set([...train.features, ...targets]) : null,
    hints,
    declared: new Set(Object.keys(train.columns)),
    required: new Set(targets),
    offset: train.offset,
    limit: train.limit,
    onHeader: checkTrain,
  });
  if (trainFormat === 'jsonl') checkTrain(trainStore.names);
  const features = train.features ?? trainStore.names.filter((name) => !targets.includes(name));
  if (features.length === 0) {
    throw new ConfigError([
      { path: 'data.train.features', message: `${train.path} has no column besides the label (${listNames(targets)})` },
    ]);
  }
  const warnings: string[] = [];
  const notes: string[] = [];
  const textColumn = findTextColumn(trainStore, features, train, notes);
  // The fixed-width columns, in order, then the text column's token slots (src/preprocess: the packed row).
  const fixed: TablePreprocessSpec = {
    kind: 'table',
    columns: features
      .filter((name) => name !== textColumn?.name)
      .map((name) => fitColumn(trainStore, name, train, warnings)),
    targets,
  };
  const table = compileTable(fixed);
  const inputs = [...fixed.columns.map((column) => column.name), ...(textColumn ? [textColumn.name] : [])];

  let labels: string[];
  let classIndex: Map<string, number> | null = null;
  if (task === 'classification') {
    const labelColumn = required(targets[0], 'the label column');
    const classes = sortValues(required(trainStore.byName.get(labelColumn), 'the stored label column').keys);
    if (classes.length < 2) {
      throw new DatasetError(
        train.path,
        null,
        `the label column "${labelColumn}" holds only one class (${JSON.stringify(classes[0])}): classification needs two or more`,
      );
    }
    classIndex = new Map(classes.map((name, index) => [name, index]));
    if (data.labels && data.labels.length !== classes.length) {
      throw new ConfigError([
        {
          path: 'data.labels',
          message: `${data.labels.length} names for the ${classes.length} classes of data.train's label column "${labelColumn}" (${listNames(classes)})`,
        },
      ]);
    }
    if (data.numClasses !== undefined && data.numClasses !== classes.length) {
      throw new ConfigError([
        {
          path: 'data.numClasses',
          message: `${data.numClasses}, but data.train's label column "${labelColumn}" has ${classes.length} classes`,
        },
      ]);
    }
    labels = data.labels ?? classes;
  } else {
    if (data.labels && data.labels.length !== targets.length) {
      throw new ConfigError([
        {
          path: 'data.labels',
          message: `${data.labels.length} names for ${targets.length} target column${targets.length === 1 ? '' : 's'} (${listNames(targets)})`,
        },
      ]);
    }
    labels = data.labels ?? targets;
  }

  const markers = new Set(train.missing.markers);
  const missingText = (text: string): boolean =>
    markers.has(text) || (train.missing.nonFinite === 'missing' && isNonFiniteText(text));
  const plan = (role: Role, store: TableStore, splitTargets: readonly string[] | null): SplitPlan => {
    const columns = planColumns(store, table, missingText);
    if (textColumn) checkTextPresent(store, textColumn.name);
    if (!splitTargets) return { role, store, columns, label: null, targets: null };
    const stored = splitTargets.map((name) => required(store.byName.get(name), `the stored column "${name}"`));
    if (classIndex) {
      const label = required(stored[0], 'the stored label column');
      return {
        role,
        store,
        columns,
        label: { stored: label, codes: classCodes(store, label, classIndex, "data.train's") },
        targets: null,
      };
    }
    return { role, store, columns, label: null, targets: stored };
  };
  const plans: SplitPlan[] = [plan('train', trainStore, targets)];

  // The other splits: read with the fitted encoding's columns and kinds.
  for (const [role, source] of tables) {
    if (role === 'train') continue;
    const where = `data.${role}`;
    const format = formatOf(source, where);
    const splitTargets = labelColumns(source.label ?? train.label);
    const inherited = source.label === undefined;
    let labelled = source.labelled;
    const splitHints = new Map<string, ColumnHint>(fixed.columns.map((column) => [column.name, column.type]));
    if (textColumn) splitHints.set(textColumn.name, 'text');
    for (const target of splitTargets) splitHints.set(target, task === 'classification' ? 'label' : 'numeric');
    const checkSplit = (names: readonly string[], header: boolean): void => {
      const has = new Set(names);
      if (header) {
        const lacking = inputs.find((name) => !has.has(name));
        if (lacking !== undefined) {
          throw new DatasetError(
            source.path,
            null,
            `no column "${lacking}", which the encoding fitted on data.train needs (its columns: ${listNames(names)})`,
            { line: 1 },
          );
        }
      }
      const absent = splitTargets.filter((target) => !has.has(target));
      const [firstAbsent] = absent;
      if (labelled && firstAbsent !== undefined) {
        if (role === 'transfer' && inherited) {
          labelled = false; // a transfer set without data.train's label column: unlabelled
        } else {
          throw new ConfigError([
            {
              path: `${where}.label`,
              message: `no column "${firstAbsent}" in ${source.path} (its columns: ${listNames(names)}); the ${role} split needs labels`,
            },
          ]);
        }
      }
    };
    const store = await readTable(source.path, format, {
      ...readingOptions(source, train, where),
      wanted: new Set([...inputs, ...(labelled ? splitTargets : [])]),
      hints: splitHints,
      declared: new Set(),
      required: new Set(labelled ? splitTargets : []),
      offset: source.offset,
      limit: source.limit,
      onHeader: (names) => checkSplit(names, true),
    });
    if (format === 'jsonl') checkSplit(store.names, false);
    plans.push(plan(role, store, labelled ? splitTargets : null));
  }

  // Everything checked: the text column's tokenizer (fitted on data.train's texts, or the user's), then encode and
  // write each split, freeing its columns as they are copied.
  let spec: TablePreprocessSpec = fixed;
  let text: { column: TextColumnSpec; tokenizer: PreparedTokenizer; summary: TextSummary } | null = null;
  if (textColumn) {
    const stored = required(trainStore.byName.get(textColumn.name), 'the stored text column');
    const tokenizer = await prepareTokenizer(train.text, stored.textRows(trainStore.rows), dir, engine, 'data.train');
    const column: TextColumnSpec = {
      name: textColumn.name,
      type: 'text',
      maxLength: train.text.maxLength,
      truncation: train.text.truncation,
      padId: tokenizer.padId,
      vocabSize: tokenizer.vocabSize,
      tokenizerSha256: tokenizer.sha256,
    };
    spec = { ...fixed, columns: [...fixed.columns, column] };
    text = {
      column,
      tokenizer,
      summary: {
        column: column.name,
        inferred: textColumn.inferred,
        tokenizer: tokenizer.kind,
        tokenizerFile: TOKENIZER_FILE,
        tokenizerSha256: tokenizer.sha256,
        vocabSize: tokenizer.vocabSize,
        maxLength: column.maxLength,
        truncation: column.truncation,
        truncated: {},
        emptyTexts: {},
      },
    };
  }
  const width = table.width + (text ? text.column.maxLength : 0);
  const sources: Partial<
    Record<Role, { type: 'file'; path: string; x: string; y: string; offset: number; labelled: boolean }>
  > = {};
  const rows: Record<string, number> = {};
  const textFiles: Partial<Record<Role, string>> = {}; // each split's raw texts, for teachers with their own tokenizer
  const augment = data.transfer?.type === 'augment' ? data.transfer : null;
  let trainRows: EncodedRows | null = null; // data.train as encoded, kept for an augmented transfer set
  for (const split of plans) {
    const n = split.store.rows;
    const files: Record<string, Uint8Array> = {};
    let labels: EncodedRows['labels'] = null;
    if (split.label) {
      const classes = new Int32Array(n);
      classIndices(split.store, split.label.stored, split.label.codes, classes);
      const y = npyBuffer((buffer, offset, length) => new BigInt64Array(buffer, offset, length), new BigInt64Array(0), [
        n,
      ]);
      const words = new Int32Array(y.data.buffer, y.data.byteOffset, 2 * n); // int64 little-endian: low word, high word 0
      for (let i = 0; i < n; i++) words[2 * i] = classes[i] ?? 0;
      files['y.npy'] = y.bytes;
      labels = { data: y.data, shape: [n] };
    } else if (split.targets) {
      const k = split.targets.length;
      const y = npyBuffer(
        (buffer, offset, length) => new Float32Array(buffer, offset, length),
        new Float32Array(0),
        k === 1 ? [n] : [n, k],
      );
      targetValues(split.store, split.targets, y.data);
      files['y.npy'] = y.bytes;
      labels = { data: y.data, shape: k === 1 ? [n] : [n, k] };
    }
    for (const column of split.label ? [split.label.stored] : (split.targets ?? [])) column.release();
    const x = npyBuffer((buffer, offset, length) => new Float32Array(buffer, offset, length), new Float32Array(0), [
      n,
      width,
    ]);
    encodeColumns(split.store, split.columns, width, x.data, true);
    if (text) {
      const stored = required(split.store.byName.get(text.column.name), 'the stored text column');
      const texts = stored.textRows(n);
      const found = encodeTexts(texts, text.column, text.tokenizer.json, x.data, width, table.width);
      text.summary.truncated[split.role] = found.truncated;
      text.summary.emptyTexts[split.role] = found.empty;
      if (split.role === 'train' && augment) trainRows = { x: x.data, labels, texts };
      textFiles[split.role] = writeTexts(dir, split.role, texts);
    }
    for (const column of split.store.columns) column.release();
    const file = path.join(dir, 'data', `${split.role}-encoded.npz`); // not data/test.npz: the engine writes that one itself
    writeNpz(file, { 'x.npy': x.bytes, ...files });
    sources[split.role] = {
      type: 'file',
      path: file,
      x: 'x',
      y: 'y',
      offset: 0,
      labelled: files['y.npy'] !== undefined,
    };
    rows[split.role] = n;
  }
  let transferOrigin: string | undefined;
  let maskToken: string | null = null;
  if (augment) {
    if (!text || !trainRows) {
      throw new ConfigError([
        {
          path: 'data.transfer.type',
          message:
            "'augment' alters the sentences of data.train's text column, and it has none (declare one: columns: { review: 'text' })",
        },
      ]);
    }
    const made = writeAugmentedTransfer(augment, trainRows, text, { width, slot: table.width }, dir);
    sources.transfer = made.source;
    rows.transfer = made.rows;
    text.summary.truncated.transfer = made.counts.truncated;
    text.summary.emptyTexts.transfer = made.counts.empty;
    transferOrigin = made.originFile;
    textFiles.transfer = made.textsFile;
    maskToken = augment.mask > 0 ? made.maskToken : null;
    notes.push(
      `data.transfer: ${made.rows.toLocaleString('en-US')} sentences, data.train's ${trainRows.texts.length.toLocaleString('en-US')} and ${made.copies.toLocaleString('en-US')} altered copies (mask ${augment.mask}, n-grams ${augment.ngram}, seed ${augment.seed})`,
    );
  }

  const prepared: EngineDataConfig = {
    task: data.task,
    normalize: data.normalize,
    train: required(sources.train, 'the prepared train split'),
    test: required(sources.test, 'the prepared test split'),
    ...(sources.transfer ? { transfer: sources.transfer } : {}),
    ...(sources.validation
      ? { validation: sources.validation }
      : data.validation?.type === 'split'
        ? { validation: data.validation }
        : {}),
    ...(data.numClasses !== undefined ? { numClasses: data.numClasses } : {}),
    labels,
    preprocess: spec,
    ...(text ? { tokenizerFile: text.tokenizer.file } : {}),
    ...(transferOrigin ? { transferOrigin } : {}),
    ...(maskToken !== null ? { maskToken } : {}),
    ...(textFiles.train && textFiles.test
      ? {
          texts: {
            train: textFiles.train,
            test: textFiles.test,
            ...(textFiles.transfer ? { transfer: textFiles.transfer } : {}),
            ...(textFiles.validation ? { validation: textFiles.validation } : {}),
          },
        }
      : {}),
  };
  return {
    data: prepared,
    summary: {
      kind: 'table',
      rows,
      skipped: {},
      ...(warnings.length > 0 ? { warnings } : {}),
      ...(notes.length > 0 ? { notes } : {}),
      ...(text ? { text: text.summary } : {}),
    },
  };
}

/** A split's encoded rows [n, width], its labels or targets (null: unlabelled) and its raw texts. */
interface EncodedRows {
  x: Float32Array;
  labels: { data: BigInt64Array | Float32Array; shape: number[] } | null;
  texts: readonly string[];
}

/**
 * data.transfer { type: augment }: data.train's sentences and their altered copies (src/data/augment.ts), encoded by
 * the same tokenizer, each row with its sentence's fixed columns and label, into `<dir>/data/transfer-encoded.npz`;
 * `transfer-origin.npy` says which data.train row each came from, so that the engine leaves out the copies of rows
 * it holds out for validation.
 */
function writeAugmentedTransfer(
  options: AugmentedTransferConfig,
  train: EncodedRows,
  text: { column: TextColumnSpec; tokenizer: PreparedTokenizer },
  layout: { width: number; slot: number },
  dir: string,
): {
  source: { type: 'file'; path: string; x: string; y: string; offset: number; labelled: boolean };
  rows: number;
  copies: number;
  counts: { truncated: number; empty: number };
  originFile: string;
  textsFile: string;
  maskToken: string | null;
} {
  const { json, maskToken } = maskingTokenizer(text.tokenizer.json);
  if (maskToken === null && options.mask > 0) {
    throw new ConfigError([
      {
        path: 'data.transfer.mask',
        message: "the tokenizer has no unknown token (its model's unk_token) to mask words with: set mask: 0",
      },
    ]);
  }
  const { texts, origin } = augmentTexts(train.texts, options, maskToken ?? '');
  const { width, slot } = layout;
  const n = texts.length;
  const x = npyBuffer((buffer, offset, length) => new Float32Array(buffer, offset, length), new Float32Array(0), [
    n,
    width,
  ]);
  for (let row = 0; row < n; row++) {
    const from = (origin[row] ?? 0) * width;
    x.data.set(train.x.subarray(from, from + slot), row * width); // the sentence's fixed columns
  }
  const counts = encodeTexts(texts, text.column, json, x.data, width, slot);
  const files: Record<string, Uint8Array> = { 'x.npy': x.bytes };
  if (train.labels) files['y.npy'] = gatherRows(train.labels, origin);
  const originNpy = npyBuffer(
    (buffer, offset, length) => new BigInt64Array(buffer, offset, length),
    new BigInt64Array(0),
    [n],
  );
  origin.forEach((from, row) => (originNpy.data[row] = BigInt(from)));
  const file = path.join(dir, 'data', 'transfer-encoded.npz');
  writeNpz(file, files);
  const originFile = path.join(dir, 'data', 'transfer-origin.npy');
  writeFileAtomic(originFile, originNpy.bytes);
  const textsFile = writeTexts(dir, 'transfer', texts);
  return {
    source: { type: 'file', path: file, x: 'x', y: 'y', offset: 0, labelled: train.labels !== null },
    rows: n,
    copies: n - (options.original ? train.texts.length : 0),
    counts,
    originFile,
    textsFile,
    maskToken,
  };
}

/** The .npy of `labels`' rows at `index`, in that order (classes as int64, targets as float32). */
function gatherRows(labels: NonNullable<EncodedRows['labels']>, index: Int32Array): Uint8Array {
  const perRow = labels.shape.slice(1).reduce((a, b) => a * b, 1);
  const shape = [index.length, ...labels.shape.slice(1)];
  const from = labels.data;
  if (from instanceof BigInt64Array) {
    const out = npyBuffer((b, o, l) => new BigInt64Array(b, o, l), new BigInt64Array(0), shape);
    index.forEach((source, row) => out.data.set(from.subarray(source * perRow, (source + 1) * perRow), row * perRow));
    return out.bytes;
  }
  const out = npyBuffer((b, o, l) => new Float32Array(b, o, l), new Float32Array(0), shape);
  index.forEach((source, row) => out.data.set(from.subarray(source * perRow, (source + 1) * perRow), row * perRow));
  return out.bytes;
}

/**
 * data.train's text column, if any: declared (`columns: {x: 'text'}`) or inferred by the rule in src/data/text.ts
 * (announced in `notes`). Two are an error naming both.
 */
function findTextColumn(
  store: TableStore,
  features: readonly string[],
  source: TableSourceConfig,
  notes: string[],
): { name: string; inferred: boolean } | null {
  const found: { name: string; inferred: boolean }[] = [];
  for (const name of features) {
    const declared = source.columns[name];
    if (declared === 'text') {
      found.push({ name, inferred: false });
      continue;
    }
    if (declared !== undefined) continue;
    const stats = inferText(store, required(store.byName.get(name), `the stored column "${name}"`));
    if (stats) {
      found.push({ name, inferred: true });
      notes.push(inferredTextNote('data.train', name, stats, columnPath('data.train', name)));
    }
  }
  if (found.length > 1) {
    const declared = new Set(found.filter((entry) => !entry.inferred).map((entry) => entry.name));
    throw twoTextColumns(
      store.file,
      found.map((entry) => entry.name),
      declared,
      'data.train',
    );
  }
  const [column] = found;
  if (!column) return null;
  const stored = required(store.byName.get(column.name), `the stored column "${column.name}"`);
  if (stored.missing === store.rows || textStats(store, stored).present === 0) {
    throw new DatasetError(
      store.file,
      null,
      `the text column "${column.name}" is empty in every row: a tokenizer cannot be fitted on it; leave it out with data.train.features`,
    );
  }
  return column;
}

/**
 * A file without the text column (no CSV header names it, no JSON line has it): an error, never a column of empty
 * texts. One row without it (a JSON line, a null, an empty cell) is an empty text, counted in the report.
 */
function checkTextPresent(store: TableStore, name: string): void {
  if (!store.hasName(name)) {
    const what = store.format === 'jsonl' ? 'no row has the text column' : 'no text column';
    throw new DatasetError(
      store.file,
      null,
      `${what} "${name}", which the model takes (its columns: ${listNames(store.names)}); a row without it reads as an empty text`,
    );
  }
}

// ---------------------------------------------------------------- the CLI's helpers

/** How {@link readTableFile} reads a file that a config source names: that source's reading options. */
export type TableReading = Partial<Pick<TableSourceConfig, 'format' | 'encoding' | 'delimiter' | 'offset' | 'limit'>>;

/**
 * The rows of a .csv / .tsv / .jsonl file (optionally .gz), as the runtime takes them (CLI `predict`; the test rows a
 * run times a text model on, read with data.test's `reading` options). With a model's spec, only its columns (and its
 * label columns) are kept, so a file with extra columns can be scored.
 */
export async function readTableFile(
  file: string,
  spec?: TablePreprocessSpec,
  reading: TableReading = {},
): Promise<TableRow[]> {
  const format = reading.format && reading.format !== 'auto' ? reading.format : fileFormat(file);
  const keep = spec ? new Set([...spec.columns.map((column) => column.name), ...spec.targets]) : null;
  const text = spec ? splitSpec(spec).text : null;
  const store = await readTable(file, format, {
    wanted: keep,
    hints: new Map(text ? [[text.name, 'text']] : []), // a text column's cells as they are, however many distinct
    declared: new Set(),
    required: new Set(),
    offset: reading.offset ?? 0,
    limit: reading.limit,
    encoding: reading.encoding,
    delimiter: reading.delimiter,
  });
  if (text) checkTextPresent(store, text.name);
  const columns = store.columns;
  const rows: Record<string, string | number | null>[] = Array.from({ length: store.rows }, () => ({}));
  for (const column of columns) {
    if (!column.present) continue;
    if (column.texts) {
      column.textRows(store.rows).forEach((value, index) => {
        if (value !== '' || format !== 'jsonl') required(rows[index], 'a row')[column.name] = value;
      });
    } else if (column.codes) {
      const keys = column.keys;
      column.eachCode(store.rows, (start, codes, count) => {
        for (let i = 0; i < count; i++) {
          const code = codes[i] ?? 0;
          const row = required(rows[start + i], 'a row');
          if (code > 0) row[column.name] = required(keys[code - 1], 'the value of a code');
          else if (format !== 'jsonl') row[column.name] = '';
        }
      });
    } else {
      column.eachFloat(store.rows, (start, values, count) => {
        for (let i = 0; i < count; i++) {
          const value = values[i] ?? NaN;
          required(rows[start + i], 'a row')[column.name] = value === value ? value : null;
        }
      });
    }
  }
  return rows;
}

/**
 * A labelled table file encoded with a model's own preprocessing, for evaluation (CLI `eval --data rows.csv`):
 * its target column(s) become y — class indices into `labels` for classification, values for regression.
 */
export async function tableDataset(
  file: string,
  spec: TablePreprocessSpec,
  labels: readonly string[] | null,
  task?: Task,
  tokenizer?: string | null,
): Promise<Dataset> {
  const format = fileFormat(file);
  const { fixed, text } = splitSpec(spec);
  const table = compileTable(fixed);
  if (text && !tokenizer)
    throw new DatasetError(file, null, `the model takes the text column "${text.name}" but carries no tokenizer`);
  // Without the task: a regression model's labels are its target columns' names (unless data.labels renamed them).
  const classification =
    (task ?? (labels === null || sameNames(labels, spec.targets) ? 'regression' : 'classification')) ===
    'classification';
  if (classification && labels === null)
    throw new DatasetError(file, null, 'the model records no class names to map the label column to');
  const hints = new Map<string, ColumnHint>(spec.columns.map((column) => [column.name, column.type]));
  for (const target of spec.targets) hints.set(target, classification ? 'label' : 'numeric');
  const check = (names: readonly string[], header: boolean): void => {
    const has = new Set(names);
    const lacking = [...(header ? spec.columns.map((column) => column.name) : []), ...spec.targets].find(
      (name) => !has.has(name),
    );
    if (lacking !== undefined) {
      const what = spec.targets.includes(lacking)
        ? `no label column "${lacking}": evaluation needs the labels`
        : `no column "${lacking}", which the model takes`;
      throw new DatasetError(file, null, `${what} (its columns: ${listNames(names)})`);
    }
  };
  const store = await readTable(file, format, {
    wanted: new Set([...spec.columns.map((column) => column.name), ...spec.targets]),
    hints,
    declared: new Set(),
    required: new Set(spec.targets),
    offset: 0,
    onHeader: (names) => check(names, true),
  });
  if (format === 'jsonl') check(store.names, false);
  if (text) checkTextPresent(store, text.name);
  const plans = planColumns(store, table);
  const n = store.rows;
  const width = table.width + (text ? text.maxLength : 0);
  const x = new Float32Array(n * width);
  const targets = spec.targets.map((name) => required(store.byName.get(name), `the stored column "${name}"`));
  let y: Int32Array | Float32Array;
  if (classification) {
    const label = required(targets[0], 'the stored label column');
    const classNames = required(labels, "the model's class names");
    const codes = classCodes(store, label, new Map(classNames.map((name, index) => [name, index])), "the model's");
    y = new Int32Array(n);
    classIndices(store, label, codes, y);
  } else {
    y = new Float32Array(n * targets.length);
    targetValues(store, targets, y);
  }
  encodeColumns(store, plans, width, x, true);
  if (text && tokenizer) {
    const stored = required(store.byName.get(text.name), 'the stored text column');
    encodeTexts(stored.textRows(n), text, tokenizer, x, width, table.width);
  }
  return datasetFromArrays({ x, y, sampleShape: [width] });
}

/** A spec's fixed-width columns (as a spec of their own) and its text column, last when there is one. */
function splitSpec(spec: TablePreprocessSpec): { fixed: TablePreprocessSpec; text: TextColumnSpec | null } {
  const text = spec.columns.find((column): column is TextColumnSpec => column.type === 'text') ?? null;
  if (!text) return { fixed: spec, text: null };
  return { fixed: { ...spec, columns: spec.columns.filter((column) => column !== text) }, text };
}

function sameNames(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((name, index) => name === b[index]);
}
