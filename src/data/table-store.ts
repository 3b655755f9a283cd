/**
 * Reading a table file into compact columns, in one streaming pass.
 *
 * CSV/TSV go through csv-parse's streaming parser, JSON lines line by line, either of them optionally gzipped.
 * No row is kept as an object: each column keeps a code per row (Uint16: its index in the column's dictionary
 * of distinct values, 0 for a missing cell) while it has at most 65,535 distinct values, and a column of more
 * distinct values that are all numbers switches to float32 values. The column's kind is inferred from its
 * dictionary (so once per distinct value, not per cell), and the encoding is applied once per distinct value
 * and copied per row (src/data/table.ts). Memory is 2-4 bytes per cell, below the encoded float32 array.
 */
import * as fs from 'node:fs';
import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import { required } from '../core/required';
import { DatasetError } from '../eval/dataset';
import { categoryOf, isMissing, parseBoolean, parseNumber } from '../preprocess/table';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

/** What a stored column must hold: a declared or fitted kind, a class label, or nothing known yet (inferred). */
export type ColumnHint = 'numeric' | 'boolean' | 'categorical' | 'text' | 'label' | undefined;

const CHUNK_BITS = 16;
/** Rows per stored chunk. */
export const CHUNK = 1 << CHUNK_BITS;
const CHUNK_MASK = CHUNK - 1;
/** Distinct values a column may have as codes (Uint16, 0 = missing). */
export const MAX_CODES = 65_535;

/** The format of a table file: as declared, else from its extension (a trailing .gz aside). */
export function tableFormat(file: string, declared: 'auto' | TableFormat = 'auto'): TableFormat | null {
  if (declared !== 'auto') return declared;
  const name = file.toLowerCase().replace(/\.gz$/, '');
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.tsv') || name.endsWith('.tab')) return 'tsv';
  if (name.endsWith('.jsonl') || name.endsWith('.ndjson')) return 'jsonl';
  return null;
}

/** Names for a message: the first few, then how many in all. */
export function listNames(names: readonly string[], limit = 20): string {
  return names.slice(0, limit).join(', ') + (names.length > limit ? `, … (${names.length} in all)` : '');
}

/** A cell that spells a non-finite number: Infinity, -Infinity, NaN, inf, nan (any case), or one too large (1e999). */
export function isNonFiniteText(text: string): boolean {
  const value = +text;
  if (value === Infinity || value === -Infinity) return true;
  return value !== value && /^\s*[+-]?(?:inf|nan)\s*$/i.test(text);
}

/**
 * What a distinct cell is to numeric reading: a finite number, a missing marker (`missing.markers`), the
 * spelling of a non-finite number, or text. Only 'text' makes a column non-numeric when its kind is inferred.
 */
export type CellClass = 'number' | 'marker' | 'nonFinite' | 'text';

export function cellClass(text: string, markers: ReadonlySet<string>): CellClass {
  if (parseNumber(text) === parseNumber(text)) return 'number';
  if (markers.has(text)) return 'marker';
  return isNonFiniteText(text) ? 'nonFinite' : 'text';
}

/**
 * One column: codes into its dictionary of distinct values (or float32 values), per row, in chunks; or, for a text
 * column (declared or fitted text, or an inferred column of more distinct values than codes can hold that are not
 * all numbers), its cells as strings, one per row ('' when missing).
 */
export class StoredColumn {
  codes: Uint16Array[] | null = [];
  floats: Float32Array[] | null = null;
  texts: string[] | null = null;
  /** Distinct value → code (1-based). */
  dict: Map<string, number> | null = new Map();
  /** code - 1 → the value, its first row, its count. */
  keys: string[] = [];
  firstRow: number[] = [];
  counts: number[] = [0];
  /** Every distinct value so far is a number / true-false. */
  numeric = true;
  boolean = true;
  missing = 0;
  firstMissingRow = -1;
  /** Floats mode: the sum and count of the values. */
  sum = 0;
  valueCount = 0;
  /** Seen in the file (a CSV header, or a key of some JSON line). */
  present = false;

  constructor(
    readonly store: TableStore,
    readonly name: string,
    readonly hint: ColumnHint,
    /** Declared by the user (an error says so) rather than fitted on data.train. */
    readonly declared: boolean,
    /** A missing cell is an error (labels and targets). */
    readonly required: boolean,
    rowsBefore: number,
  ) {
    if (hint === 'text') {
      this.codes = null;
      this.dict = null;
      this.numeric = false;
      this.boolean = false;
      this.texts = new Array<string>(rowsBefore).fill('');
    }
    if (rowsBefore > 0) {
      if (required) store.fail(0, `the label column "${name}" is empty`);
      this.missing = rowsBefore;
      this.firstMissingRow = 0;
    }
  }

  /** Rows stored as codes (Uint16), chunk by chunk; null once the column holds floats. */
  private codeChunk(row: number): Uint16Array {
    const chunks = required(this.codes, 'the codes of a column in codes mode');
    const index = row >>> CHUNK_BITS;
    for (;;) {
      const chunk = chunks[index];
      if (chunk) return chunk;
      chunks.push(new Uint16Array(CHUNK));
    }
  }

  private floatChunk(row: number): Float32Array {
    const chunks = required(this.floats, 'the values of a column in floats mode');
    const index = row >>> CHUNK_BITS;
    for (;;) {
      const chunk = chunks[index];
      if (chunk) return chunk;
      chunks.push(new Float32Array(CHUNK).fill(NaN));
    }
  }

  putMissing(row: number): void {
    if (this.required) this.store.fail(row, `the label column "${this.name}" is empty`);
    this.missing++;
    if (this.firstMissingRow < 0) this.firstMissingRow = row;
    if (this.codes) this.codeChunk(row)[row & CHUNK_MASK] = 0;
    else if (this.texts) this.texts[row] = '';
    else this.floatChunk(row)[row & CHUNK_MASK] = NaN;
  }

  putText(row: number, text: string): void {
    if (text === '') {
      this.putMissing(row);
      return;
    }
    if (this.codes) {
      let code = required(this.dict, 'the dictionary of a column in codes mode').get(text);
      code ??= this.insert(row, text);
      if (code < 0) {
        this.putMissing(row); // a missing marker or a non-finite number in a numeric column
        return;
      }
      if (code > 0) {
        this.codeChunk(row)[row & CHUNK_MASK] = code;
        this.counts[code] = (this.counts[code] ?? 0) + 1;
        return;
      }
    }
    if (this.texts) {
      this.texts[row] = text;
      return;
    }
    const value = parseNumber(text);
    if (value === value) this.putFloat(row, value);
    else if (this.numericMissing(row, text)) this.putMissing(row);
    else this.notNumeric(row, text);
  }

  /** A JSON value: strings as they are, numbers and booleans by their JSON text, null missing. */
  putValue(row: number, value: unknown): void {
    if (isMissing(value)) {
      this.putMissing(row);
      return;
    }
    if (typeof value === 'number' && this.floats) {
      if (value - value !== 0) this.store.fail(row, `column "${this.name}": ${value} is not a finite number`);
      this.putFloat(row, value);
      return;
    }
    const text = categoryOf(value);
    if (text === undefined) {
      const what = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : typeof value;
      this.store.fail(row, `column "${this.name}": expected a string, number, boolean or null, got ${what}`);
    }
    this.putText(row, text);
  }

  private putFloat(row: number, value: number): void {
    this.floatChunk(row)[row & CHUNK_MASK] = value;
    this.sum += value;
    this.valueCount++;
  }

  /**
   * In a numeric column, whether a text that is no finite number is a missing value: a missing marker, or a
   * non-finite number with `missing.nonFinite: 'missing'`; a non-finite number is otherwise an error here.
   */
  private numericMissing(row: number, text: string): boolean {
    const plan = this.store.plan;
    const kind = cellClass(text, plan.markers ?? NO_MARKERS);
    if (kind === 'marker') return true;
    if (kind !== 'nonFinite') return false;
    if (plan.nonFinite === 'missing') return true;
    return this.store.fail(
      row,
      nonFiniteMessage(this.name, [{ text, line: this.store.lineOf(row), count: 1 }], plan.where),
    );
  }

  /**
   * A new distinct value: checked against the column's kind, given a code (0: the column now holds floats;
   * -1: a missing value, a marker or non-finite number in a numeric column, stored as missing and not as a code).
   */
  private insert(row: number, text: string): number {
    const number = parseNumber(text);
    const isNumber = number === number;
    const hint = this.hint;
    if (hint === 'numeric' && !isNumber) {
      if (this.numericMissing(row, text)) return -1;
      this.notNumeric(row, text);
    }
    if (hint === 'boolean' && parseBoolean(text) < 0) {
      this.store.fail(
        row,
        `column "${this.name}" is ${this.declared ? 'declared ' : ''}boolean, but holds ${JSON.stringify(text)} (expected true/false or 1/0)`,
      );
    }
    if (this.keys.length >= MAX_CODES) {
      if (this.numeric && isNumber && hint !== 'categorical' && hint !== 'boolean' && hint !== 'label') {
        this.toFloats();
        return 0;
      }
      if (hint === undefined && !(this.numeric && isNumber) && !(this.boolean && parseBoolean(text) >= 0)) {
        this.toTexts(row); // too many for a categorical column: free text, if fitting finds it so (src/data/text.ts)
        return 0;
      }
      const what = hint === 'label' ? 'the label column' : `column "${this.name}"`;
      const advice =
        hint === 'label'
          ? 'too many classes: is this a regression target (data.task: regression)?'
          : 'too many for a categorical column; leave it out with features, or declare it numeric';
      this.store.fail(
        row,
        `${what} has more than ${MAX_CODES.toLocaleString('en-US')} distinct values (here ${JSON.stringify(text)}): ${advice}`,
      );
    }
    // Markers and non-finite numbers leave an inferred column numeric: fitting decides what they are (src/data/table.ts).
    this.numeric &&= isNumber || cellClass(text, this.store.plan.markers ?? NO_MARKERS) !== 'text';
    if (this.boolean) {
      const lower = text.toLowerCase();
      this.boolean = lower === 'true' || lower === 'false';
    }
    const code = this.keys.length + 1;
    required(this.dict, 'the dictionary of a column in codes mode').set(text, code);
    this.keys.push(text);
    this.firstRow.push(row);
    this.counts.push(0);
    return code;
  }

  private notNumeric(row: number, text: string): never {
    const kind =
      this.hint === 'numeric'
        ? `${this.declared ? 'declared ' : ''}numeric`
        : 'numeric (more distinct values than a categorical column may have)';
    const markers = `${this.store.plan.where ?? 'the source'}.missing.markers`;
    return this.store.fail(
      row,
      `column "${this.name}" is ${kind}, but holds ${JSON.stringify(text)}, not a number (if it means a missing value, list it in ${markers})`,
    );
  }

  /** Codes → float32 values (a numeric column with more distinct values than codes can hold). */
  private toFloats(): void {
    const values = new Float32Array(this.keys.length + 1);
    values[0] = NaN;
    this.keys.forEach((key, index) => {
      const value = parseNumber(key);
      const count = this.counts[index + 1] ?? 0;
      values[index + 1] = value;
      if (value === value) {
        this.sum += value * count;
        this.valueCount += count;
        return;
      }
      // A marker or a non-finite number (or an error, by missing.nonFinite): missing from now on.
      const first = required(this.firstRow[index], 'the first row of a value');
      this.numericMissing(first, key);
      this.missing += count;
      if (this.firstMissingRow < 0 || first < this.firstMissingRow) this.firstMissingRow = first;
    });
    this.floats = required(this.codes, 'the codes of a column in codes mode').map((chunk) => {
      const floats = new Float32Array(CHUNK);
      // Every code indexes `values` (codes run 0 ... keys.length).
      for (let i = 0; i < CHUNK; i++) floats[i] = values[chunk[i] ?? 0] ?? NaN;
      return floats;
    });
    this.codes = null;
    this.dict = null;
    this.keys = [];
    this.firstRow = [];
    this.counts = [0];
  }

  /** Codes → one string per row (rows 0 .. `rows` - 1 so far): an inferred column of too many distinct values. */
  private toTexts(rows: number): void {
    this.texts = this.decodeCodes(rows);
    this.codes = null;
    this.dict = null;
    this.numeric = false;
    this.boolean = false;
    this.keys = [];
    this.firstRow = [];
    this.counts = [0];
  }

  /**
   * The column's cells as strings, one per row ('' when missing): a text column's own, or a codes column's values.
   */
  textRows(rows: number): string[] {
    if (this.texts) {
      const texts = this.texts;
      for (let i = texts.length; i < rows; i++) texts.push('');
      return texts;
    }
    return this.decodeCodes(rows);
  }

  /** Each row's cell as its text: the code's key, or '' where the cell was empty. */
  private decodeCodes(rows: number): string[] {
    const texts = new Array<string>(rows);
    const keys = this.keys;
    this.eachCode(rows, (start, codes, count) => {
      for (let i = 0; i < count; i++) {
        const code = codes[i] ?? 0;
        texts[start + i] = code > 0 ? (keys[code - 1] ?? '') : '';
      }
    });
    return texts;
  }

  /** The non-missing values' mean (numeric columns). */
  mean(): number {
    if (this.floats) return this.valueCount > 0 ? this.sum / this.valueCount : 0;
    let sum = 0;
    let count = 0;
    this.keys.forEach((key, index) => {
      const value = parseNumber(key);
      if (value !== value) return; // a missing marker or a non-finite number: missing, not in the mean
      const n = this.counts[index + 1] ?? 0;
      sum += value * n;
      count += n;
    });
    return count > 0 ? sum / count : 0;
  }

  /** Calls `visit(row, code)` (codes mode) for every stored row. */
  eachCode(rows: number, visit: (start: number, codes: Uint16Array, count: number) => void): void {
    const codes = required(this.codes, 'the codes of a column in codes mode');
    codes.forEach((chunk, index) => {
      const start = index << CHUNK_BITS;
      if (start < rows) visit(start, chunk, Math.min(CHUNK, rows - start));
    });
    for (let start = codes.length << CHUNK_BITS; start < rows; start += CHUNK)
      visit(start, new Uint16Array(CHUNK), Math.min(CHUNK, rows - start));
  }

  eachFloat(rows: number, visit: (start: number, values: Float32Array, count: number) => void): void {
    const floats = required(this.floats, 'the values of a column in floats mode');
    floats.forEach((chunk, index) => {
      const start = index << CHUNK_BITS;
      if (start < rows) visit(start, chunk, Math.min(CHUNK, rows - start));
    });
    for (let start = floats.length << CHUNK_BITS; start < rows; start += CHUNK) {
      visit(start, new Float32Array(CHUNK).fill(NaN), Math.min(CHUNK, rows - start));
    }
  }

  /** Chunk `index` of the codes (rows index * CHUNK ...); zeros (missing) where none was stored. */
  codesAt(index: number): Uint16Array {
    return required(this.codes, 'the codes of a column in codes mode')[index] ?? new Uint16Array(CHUNK);
  }

  floatsAt(index: number): Float32Array {
    return required(this.floats, 'the values of a column in floats mode')[index] ?? new Float32Array(CHUNK).fill(NaN);
  }

  /** Frees one chunk once encoded: the encoded array grows as the columns shrink. */
  dropChunk(index: number): void {
    const chunks = this.codes ?? required(this.floats, 'the values of a column');
    if (index < chunks.length) (chunks as (Uint16Array | Float32Array | undefined)[])[index] = undefined;
  }

  /** Frees the stored values (after encoding). */
  release(): void {
    this.codes = this.codes ? [] : null;
    this.floats = this.floats ? [] : null;
    this.texts = this.texts ? [] : null;
  }
}

/** Cells of a non-finite number, with their lines (or the first line of several alike), for a message. */
export interface NonFiniteCell {
  readonly text: string;
  readonly line: number;
  readonly count: number;
}

/** The error for non-finite numbers in a numeric column, with its fix (`where`: the source's config path). */
export function nonFiniteMessage(name: string, cells: readonly NonFiniteCell[], where = 'the source'): string {
  const listed = cells
    .slice(0, 5)
    .map((cell) =>
      cell.count === 1
        ? `${JSON.stringify(cell.text)} (line ${cell.line})`
        : `${JSON.stringify(cell.text)} (${cell.count} cells, the first on line ${cell.line})`,
    )
    .join(', ');
  const more = cells.length > 5 ? `, … (${cells.length} distinct in all)` : '';
  return `column "${name}" is numeric, but holds non-finite numbers: ${listed}${more}; read them as missing values with ${where}.missing.nonFinite: 'missing', or correct the cells`;
}

const NO_MARKERS: ReadonlySet<string> = new Set();

/** What to keep of a file: the columns wanted (null: all), each one's hint, and which must never be empty. */
export interface StorePlan {
  readonly wanted: ReadonlySet<string> | null;
  readonly hints: ReadonlyMap<string, ColumnHint>;
  /** Hints the user declared (data.train.columns), named as such in errors. */
  readonly declared: ReadonlySet<string>;
  readonly required: ReadonlySet<string>;
  readonly offset: number;
  readonly limit?: number | undefined;
  /** Called with the header's names (CSV/TSV) before any row is read: a config mismatch fails early. */
  readonly onHeader?: (names: readonly string[]) => void;
  /** The source's config path (`data.train`), for the options an error names; absent: a file outside a config. */
  readonly where?: string | undefined;
  /** Cell texts read as missing in a numeric column (`missing.markers`). */
  readonly markers?: ReadonlySet<string> | undefined;
  /** A non-finite number in a numeric column: an error (the default) or a missing value (`missing.nonFinite`). */
  readonly nonFinite?: 'error' | 'missing' | undefined;
  /** The file's text encoding (default UTF-8, where a byte that is not UTF-8 is an error naming its line). */
  readonly encoding?: 'utf-8' | 'windows-1252' | 'latin1' | undefined;
  /** The CSV/TSV field separator (default: ',' for csv, a tab for tsv). */
  readonly delimiter?: string | undefined;
}

/** A table file's columns, stored compactly (see the file comment). */
export class TableStore {
  rows = 0;
  readonly columns: StoredColumn[] = [];
  readonly byName = new Map<string, StoredColumn>();
  /** Every column the file has (the header, or every key of its JSON lines), for messages. */
  readonly names: string[] = [];
  private readonly nameSet = new Set<string>();
  /** (row, line) pairs: the line of row r is line + (r - row) for the last pair with row <= r. */
  private readonly lineBreaks: number[] = [];
  private nextExpectedLine = -1;

  constructor(
    readonly file: string,
    readonly format: TableFormat,
    readonly plan: StorePlan,
  ) {}

  /** Throws a DatasetError naming the file and the row's line. */
  fail(row: number, detail: string): never {
    throw new DatasetError(this.file, null, detail, { line: this.lineOf(row) });
  }

  lineOf(row: number): number {
    const breaks = this.lineBreaks;
    // (row, line) pairs by row: the last pair at or before `row` (or the first), as lineBreaks records them
    let [baseRow, baseLine] = breaks;
    if (baseRow === undefined || baseLine === undefined) return row + 1;
    for (let i = 2; i + 1 < breaks.length; i += 2) {
      const pairRow = breaks[i] ?? Infinity;
      const pairLine = breaks[i + 1] ?? 0;
      if (pairRow > row) break;
      baseRow = pairRow;
      baseLine = pairLine;
    }
    return baseLine + (row - baseRow);
  }

  /** Records that row `row` is on line `line`. */
  private at(row: number, line: number): void {
    if (line !== this.nextExpectedLine) this.lineBreaks.push(row, line);
    this.nextExpectedLine = line + 1;
  }

  addName(name: string): void {
    if (!this.nameSet.has(name)) {
      this.nameSet.add(name);
      this.names.push(name);
    }
  }

  hasName(name: string): boolean {
    return this.nameSet.has(name);
  }

  column(name: string): StoredColumn {
    let column = this.byName.get(name);
    if (!column) {
      const plan = this.plan;
      column = new StoredColumn(
        this,
        name,
        plan.hints.get(name),
        plan.declared.has(name),
        plan.required.has(name),
        this.rows,
      );
      this.columns.push(column);
      this.byName.set(name, column);
    }
    return column;
  }

  // ---------------------------------------------------------------- CSV / TSV

  private cellColumns: StoredColumn[] = [];
  private cellIndex = new Int32Array(0);
  private headerWidth = 0;

  header(names: string[], line: number): void {
    this.checkDelimiter(names, line);
    const seen = new Set<string>();
    names.forEach((name, index) => {
      if (name.trim() === '') {
        throw new DatasetError(
          this.file,
          null,
          `column ${index + 1} has no name in the header (an index written by pandas? write the file with index=False)`,
          { line },
        );
      }
      if (seen.has(name)) throw new DatasetError(this.file, null, `the header names column "${name}" twice`, { line });
      seen.add(name);
      this.addName(name);
    });
    this.plan.onHeader?.(names);
    const kept: StoredColumn[] = [];
    const indices: number[] = [];
    names.forEach((name, index) => {
      if (this.plan.wanted && !this.plan.wanted.has(name)) return;
      const column = this.column(name);
      column.present = true;
      kept.push(column);
      indices.push(index);
    });
    this.cellColumns = kept;
    this.cellIndex = Int32Array.from(indices);
    this.headerWidth = names.length;
  }

  /** A header read as one column that holds another separator: the file is separated otherwise (`delimiter`). */
  private checkDelimiter(names: readonly string[], line: number): void {
    const [only] = names;
    if (names.length !== 1 || only === undefined) return;
    const used = delimiterOf(this.format, this.plan.delimiter);
    const other = SEPARATORS.find((separator) => separator !== used && only.includes(separator));
    if (other === undefined) return;
    const where = this.plan.where;
    const fix = where
      ? `set ${where}.delimiter: ${JSON.stringify(other)}${other === '\t' ? ` (or ${where}.format: 'tsv')` : ''}`
      : `write it separated by ${separatorName(used)}`;
    throw new DatasetError(
      this.file,
      null,
      `the header reads as one column, ${JSON.stringify(only)}, which looks separated by ${separatorName(other)} while the file is read as separated by ${separatorName(used)}: ${fix}`,
      { line },
    );
  }

  cells(cells: string[], line: number): void {
    if (cells.length !== this.headerWidth) {
      throw new DatasetError(
        this.file,
        null,
        `the row has ${cells.length} field${cells.length === 1 ? '' : 's'}, the header ${this.headerWidth}`,
        { line },
      );
    }
    const row = this.rows;
    this.at(row, line);
    const columns = this.cellColumns;
    const indices = this.cellIndex;
    columns.forEach((column, k) => {
      column.putText(row, required(cells[indices[k] ?? -1], 'the cell of a kept column'));
    });
    this.rows = row + 1;
  }

  // ---------------------------------------------------------------- JSON lines

  object(value: Record<string, unknown>, line: number): void {
    const row = this.rows;
    this.at(row, line);
    const wanted = this.plan.wanted;
    for (const key in value) {
      this.addName(key);
      if (wanted === null || wanted.has(key)) this.column(key).present = true;
    }
    const columns = this.columns;
    for (const column of columns) column.putValue(row, value[column.name]);
    this.rows = row + 1;
  }
}

// ---------------------------------------------------------------- reading

/** The field separators a CSV/TSV source may declare (`delimiter`), checked against a one-column header. */
const SEPARATORS: readonly string[] = [',', ';', '\t'];

function delimiterOf(format: TableFormat, declared: string | undefined): string {
  return declared ?? (format === 'tsv' ? '\t' : ',');
}

function separatorName(separator: string): string {
  return separator === '\t' ? 'tabs' : separator === ',' ? 'commas' : `"${separator}"`;
}

function readError(file: string, error: unknown): DatasetError {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new DatasetError(file, null, 'no such file', { cause: error });
  if (code === 'EISDIR') return new DatasetError(file, null, 'a folder, not a table file', { cause: error });
  if (typeof code === 'string' && code.startsWith('Z_')) {
    return new DatasetError(file, null, `not a valid gzip file, or it is truncated (${(error as Error).message})`, {
      cause: error,
    });
  }
  return new DatasetError(file, null, `cannot read the file (${code ?? (error as Error).message})`, { cause: error });
}

function csvError(file: string, error: CsvError): DatasetError {
  const line = typeof error.lines === 'number' ? error.lines : undefined;
  // csv-parse's messages end with "at line N"; the line is in ours already.
  const detail = error.message.replace(/\s*(at|on) line \d+[^,:;]*/i, '');
  return new DatasetError(file, null, `malformed CSV: ${detail}`, { cause: error, line });
}

function countNewlines(cells: readonly string[]): number {
  let count = 0;
  for (const cell of cells) {
    let at = cell.indexOf('\n');
    while (at !== -1) {
      count++;
      at = cell.indexOf('\n', at + 1);
    }
  }
  return count;
}

/** The file's bytes, decompressed when it ends in .gz, as a stream; `onError` gets read and gzip errors. */
function openFile(
  file: string,
  onError: (error: DatasetError) => void,
): { input: NodeJS.ReadableStream; close: () => void } {
  const source = fs.createReadStream(file, { highWaterMark: 1 << 16 });
  source.on('error', (error) => onError(readError(file, error)));
  if (!/\.gz$/i.test(file)) return { input: source, close: () => source.destroy() };
  const gunzip = zlib.createGunzip({ chunkSize: 1 << 16 });
  gunzip.on('error', (error) => onError(readError(file, error)));
  source.pipe(gunzip);
  return {
    input: gunzip,
    close: () => {
      source.destroy();
      gunzip.destroy();
    },
  };
}

/** Newlines in `bytes` (0x0A is never part of a multi-byte UTF-8 character). */
function newlineBytes(bytes: Uint8Array, end = bytes.length): number {
  let count = 0;
  for (let at = bytes.indexOf(0x0a); at !== -1 && at < end; at = bytes.indexOf(0x0a, at + 1)) count++;
  return count;
}

/** The offset of the first byte of `bytes` that breaks UTF-8 (a sequence cut short at the end counts), or -1. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const lead = bytes[i] ?? 0;
    if (lead < 0x80) {
      i++;
      continue;
    }
    const follow =
      lead >= 0xc2 && lead <= 0xdf ? 1 : lead >= 0xe0 && lead <= 0xef ? 2 : lead >= 0xf0 && lead <= 0xf4 ? 3 : 0;
    if (follow === 0) return i;
    // The second byte's range excludes overlong forms and surrogates (E0, ED, F0, F4), as WHATWG's decoder does.
    const low = lead === 0xe0 ? 0xa0 : lead === 0xf0 ? 0x90 : 0x80;
    const high = lead === 0xed ? 0x9f : lead === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= follow; k++) {
      const next = bytes[i + k];
      if (next === undefined || next < (k === 1 ? low : 0x80) || next > (k === 1 ? high : 0xbf)) return i;
    }
    i += follow + 1;
  }
  return -1;
}

/** The bytes at the end of a chunk from the last character's lead byte: an incomplete character the next chunk ends. */
function trailingCharacter(chunk: Uint8Array): Uint8Array {
  for (let back = 1; back <= 4 && back <= chunk.length; back++) {
    const byte = chunk[chunk.length - back] ?? 0;
    if (byte < 0x80) return chunk.subarray(chunk.length - back + 1);
    if (byte >= 0xc0) return chunk.subarray(chunk.length - back);
  }
  return chunk.subarray(chunk.length);
}

/**
 * The file's text, decoded from `encoding` chunk by chunk: UTF-8 strictly (never a silent U+FFFD), its first
 * invalid byte a DatasetError naming its line and the `encoding` option; a leading byte-order mark is dropped.
 * `bytes`: UTF-8 is checked and its bytes passed on as they are (csv-parse decodes them: no second copy as text).
 */
function decoder(file: string, plan: StorePlan, bytes: boolean): Transform {
  const encoding = plan.encoding ?? 'utf-8';
  const passBytes = bytes && encoding === 'utf-8';
  const text = new TextDecoder(encoding, { fatal: true });
  let line = 1; // the line the next chunk starts on
  let tail: Uint8Array = new Uint8Array(0);
  const invalid = (bytes: Uint8Array, atEnd: boolean): DatasetError => {
    const found = firstInvalidUtf8(bytes);
    const offset = found < 0 ? 0 : found;
    const what = atEnd
      ? 'the file ends inside a UTF-8 character'
      : `byte 0x${(bytes[offset] ?? 0).toString(16).toUpperCase().padStart(2, '0')} is not UTF-8`;
    const fix = plan.where
      ? `if the file is Latin-1 or Windows-1252 (as older Excel exports are), set ${plan.where}.encoding: 'windows-1252'; else convert it to UTF-8`
      : 'convert it to UTF-8';
    return new DatasetError(file, null, `not valid UTF-8: ${what}; ${fix}`, {
      line: line + newlineBytes(bytes, offset),
    });
  };
  return new Transform({
    readableObjectMode: true,
    transform(chunk: Buffer, _encoding, done) {
      let decoded: string;
      try {
        decoded = text.decode(chunk, { stream: true });
      } catch {
        done(invalid(Buffer.concat([tail, chunk]), false));
        return;
      }
      line += newlineBytes(chunk);
      tail = trailingCharacter(chunk);
      if (passBytes) done(null, chunk);
      else done(null, decoded === '' ? undefined : decoded);
    },
    flush(done) {
      try {
        const rest = text.decode();
        done(null, rest === '' || passBytes ? undefined : rest);
      } catch {
        done(invalid(tail, true));
      }
    },
  });
}

/**
 * The file's text (decompressed when it ends in .gz, decoded from the plan's encoding) as a stream of strings,
 * or of checked UTF-8 bytes when `bytes` (a UTF-8 CSV/TSV, which csv-parse decodes itself).
 */
function openText(
  file: string,
  plan: StorePlan,
  onError: (error: DatasetError) => void,
  bytes: boolean,
): { input: NodeJS.ReadableStream; close: () => void } {
  const raw = openFile(file, onError);
  const text = decoder(file, plan, bytes);
  text.on('error', (error) => onError(error instanceof DatasetError ? error : readError(file, error)));
  raw.input.pipe(text);
  return {
    input: text,
    close: () => {
      raw.close();
      text.destroy();
    },
  };
}

/** Reads a table file into a TableStore: one streaming pass, rows offset .. offset + limit. */
export function readTable(file: string, format: TableFormat, plan: StorePlan): Promise<TableStore> {
  const store = new TableStore(file, format, plan);
  return new Promise<TableStore>((resolve, reject) => {
    const end = plan.limit === undefined ? Infinity : plan.offset + plan.limit;
    let seen = 0; // data rows (or JSON lines) read, before slicing
    let headerSeen = false;
    let line = 1; // the line the next record starts on
    let done = false;
    let close = (): void => undefined;
    const finish = (error?: unknown): void => {
      if (done) return;
      done = true;
      close();
      if (error !== undefined) {
        reject(error instanceof Error ? error : new Error('table reading failed'));
        return;
      }
      if (store.rows === 0) {
        const what =
          format === 'jsonl'
            ? seen === 0
              ? 'an empty file: no JSON lines'
              : `no rows from offset ${plan.offset} (the file has ${seen})`
            : headerSeen
              ? seen === 0
                ? 'only a header, no rows'
                : `no rows from offset ${plan.offset} (the file has ${seen})`
              : 'an empty file: expected a header row, then rows';
        reject(new DatasetError(file, null, what));
        return;
      }
      resolve(store);
    };
    const opened = openText(file, plan, finish, format !== 'jsonl');
    close = opened.close;

    if (format === 'jsonl') {
      let rest = '';
      const take = (text: string): void => {
        const trimmed = text.endsWith('\r') ? text.slice(0, -1) : text;
        const at = line++;
        if (trimmed.trim() === '') return;
        const index = seen++;
        if (index < plan.offset) return;
        let value: unknown;
        try {
          value = JSON.parse(trimmed);
        } catch (error) {
          throw new DatasetError(file, null, `not valid JSON (${(error as Error).message})`, {
            line: at,
            cause: error,
          });
        }
        if (typeof value !== 'object' || value === null || Array.isArray(value)) {
          const what = value === null ? 'null' : Array.isArray(value) ? 'an array' : typeof value;
          throw new DatasetError(file, null, `expected a JSON object (one row), got ${what}`, { line: at });
        }
        store.object(value as Record<string, unknown>, at);
      };
      opened.input.on('data', (chunk: string) => {
        if (done) return;
        try {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop() ?? ''; // split always returns at least one element
          for (const text of lines) {
            take(text);
            if (seen >= end) {
              finish();
              return;
            }
          }
        } catch (error) {
          finish(error);
        }
      });
      opened.input.on('end', () => {
        if (done) return;
        try {
          if (rest !== '') take(rest);
          finish();
        } catch (error) {
          finish(error);
        }
      });
      return;
    }

    const parser = parseCsv({ delimiter: delimiterOf(format, plan.delimiter), bom: true, relax_column_count: true });
    close = () => {
      opened.close();
      parser.destroy();
    };
    parser.on('error', (error: CsvError) => finish(csvError(file, error)));
    parser.on('readable', () => {
      try {
        let record: string[] | null;
        while (!done && (record = parser.read() as string[] | null) !== null) {
          const at = line;
          line += 1 + countNewlines(record);
          if (!headerSeen) {
            headerSeen = true;
            store.header(record, at);
            continue;
          }
          if (record.length === 1 && record[0] === '' && store.names.length > 1) continue; // a blank line
          const index = seen++;
          if (index < plan.offset) continue;
          store.cells(record, at);
          if (seen >= end) {
            finish();
            return;
          }
        }
      } catch (error) {
        finish(error);
      }
    });
    parser.on('end', () => finish());
    opened.input.pipe(parser);
  });
}
