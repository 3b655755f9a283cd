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
import * as zlib from 'node:zlib';
import { parse as parseCsv, type CsvError } from 'csv-parse';
import { DatasetError } from '../eval/dataset';
import { categoryOf, isMissing, parseBoolean, parseNumber } from '../preprocess/table';

export type TableFormat = 'csv' | 'tsv' | 'jsonl';

/** What a stored column must hold: a declared or fitted kind, a class label, or nothing known yet (inferred). */
export type ColumnHint = 'numeric' | 'boolean' | 'categorical' | 'label' | undefined;

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

/** One column: codes into its dictionary of distinct values (or float32 values), per row, in chunks. */
export class StoredColumn {
  codes: Uint16Array[] | null = [];
  floats: Float32Array[] | null = null;
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
    if (rowsBefore > 0) {
      if (required) store.fail(0, `the label column "${name}" is empty`);
      this.missing = rowsBefore;
      this.firstMissingRow = 0;
    }
  }

  /** Rows stored as codes (Uint16), chunk by chunk; null once the column holds floats. */
  private codeChunk(row: number): Uint16Array {
    const chunks = this.codes!;
    const index = row >>> CHUNK_BITS;
    while (chunks.length <= index) chunks.push(new Uint16Array(CHUNK));
    return chunks[index]!;
  }

  private floatChunk(row: number): Float32Array {
    const chunks = this.floats!;
    const index = row >>> CHUNK_BITS;
    while (chunks.length <= index) chunks.push(new Float32Array(CHUNK).fill(NaN));
    return chunks[index]!;
  }

  putMissing(row: number): void {
    if (this.required) this.store.fail(row, `the label column "${this.name}" is empty`);
    this.missing++;
    if (this.firstMissingRow < 0) this.firstMissingRow = row;
    if (this.codes) this.codeChunk(row)[row & CHUNK_MASK] = 0;
    else this.floatChunk(row)[row & CHUNK_MASK] = NaN;
  }

  putText(row: number, text: string): void {
    if (text === '') return this.putMissing(row);
    if (this.codes) {
      let code = this.dict!.get(text);
      if (code === undefined) code = this.insert(row, text);
      if (code > 0) {
        this.codeChunk(row)[row & CHUNK_MASK] = code;
        this.counts[code]!++;
        return;
      }
    }
    const value = parseNumber(text);
    if (value !== value) this.notNumeric(row, text);
    this.putFloat(row, value);
  }

  /** A JSON value: strings as they are, numbers and booleans by their JSON text, null missing. */
  putValue(row: number, value: unknown): void {
    if (isMissing(value)) return this.putMissing(row);
    if (typeof value === 'number' && this.floats) {
      if (value - value !== 0) this.store.fail(row, `column "${this.name}": ${value} is not a finite number`);
      return this.putFloat(row, value);
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

  /** A new distinct value: checked against the column's kind, given a code (0: the column now holds floats). */
  private insert(row: number, text: string): number {
    const number = parseNumber(text);
    const isNumber = number === number;
    const hint = this.hint;
    if (hint === 'numeric' && !isNumber) this.notNumeric(row, text);
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
    this.numeric &&= isNumber;
    if (this.boolean) {
      const lower = text.toLowerCase();
      this.boolean = lower === 'true' || lower === 'false';
    }
    const code = this.keys.length + 1;
    this.dict!.set(text, code);
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
    return this.store.fail(row, `column "${this.name}" is ${kind}, but holds ${JSON.stringify(text)}, not a number`);
  }

  /** Codes → float32 values (a numeric column with more distinct values than codes can hold). */
  private toFloats(): void {
    const values = new Float32Array(this.keys.length + 1);
    values[0] = NaN;
    this.keys.forEach((key, index) => {
      values[index + 1] = parseNumber(key);
      this.sum += parseNumber(key) * this.counts[index + 1]!;
      this.valueCount += this.counts[index + 1]!;
    });
    this.floats = this.codes!.map((chunk) => {
      const floats = new Float32Array(CHUNK);
      for (let i = 0; i < CHUNK; i++) floats[i] = values[chunk[i]!]!;
      return floats;
    });
    this.codes = null;
    this.dict = null;
    this.keys = [];
    this.firstRow = [];
    this.counts = [0];
  }

  /** The non-missing values' mean (numeric columns). */
  mean(): number {
    if (this.floats) return this.valueCount > 0 ? this.sum / this.valueCount : 0;
    let sum = 0;
    let count = 0;
    this.keys.forEach((key, index) => {
      sum += parseNumber(key) * this.counts[index + 1]!;
      count += this.counts[index + 1]!;
    });
    return count > 0 ? sum / count : 0;
  }

  /** Calls `visit(row, code)` (codes mode) for every stored row. */
  eachCode(rows: number, visit: (start: number, codes: Uint16Array, count: number) => void): void {
    this.codes!.forEach((chunk, index) => {
      const start = index << CHUNK_BITS;
      if (start < rows) visit(start, chunk, Math.min(CHUNK, rows - start));
    });
    for (let start = this.codes!.length << CHUNK_BITS; start < rows; start += CHUNK)
      visit(start, new Uint16Array(CHUNK), Math.min(CHUNK, rows - start));
  }

  eachFloat(rows: number, visit: (start: number, values: Float32Array, count: number) => void): void {
    this.floats!.forEach((chunk, index) => {
      const start = index << CHUNK_BITS;
      if (start < rows) visit(start, chunk, Math.min(CHUNK, rows - start));
    });
    for (let start = this.floats!.length << CHUNK_BITS; start < rows; start += CHUNK) {
      visit(start, new Float32Array(CHUNK).fill(NaN), Math.min(CHUNK, rows - start));
    }
  }

  /** Chunk `index` of the codes (rows index * CHUNK ...); zeros (missing) where none was stored. */
  codesAt(index: number): Uint16Array {
    return this.codes![index] ?? new Uint16Array(CHUNK);
  }

  floatsAt(index: number): Float32Array {
    return this.floats![index] ?? new Float32Array(CHUNK).fill(NaN);
  }

  /** Frees one chunk once encoded: the encoded array grows as the columns shrink. */
  dropChunk(index: number): void {
    const chunks = this.codes ?? this.floats!;
    if (index < chunks.length) (chunks as Array<Uint16Array | Float32Array | undefined>)[index] = undefined;
  }

  /** Frees the stored values (after encoding). */
  release(): void {
    this.codes = this.codes ? [] : null;
    this.floats = this.floats ? [] : null;
  }
}

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
    let found = 0;
    for (let i = 0; i < breaks.length && breaks[i]! <= row; i += 2) found = i;
    return breaks.length === 0 ? row + 1 : breaks[found + 1]! + (row - breaks[found]!);
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
    for (let k = 0; k < columns.length; k++) columns[k]!.putText(row, cells[indices[k]!]!);
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
    for (let k = 0; k < columns.length; k++) columns[k]!.putValue(row, value[columns[k]!.name]);
    this.rows = row + 1;
  }
}

// ---------------------------------------------------------------- reading

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
  return new DatasetError(file, null, `malformed ${'CSV'}: ${detail}`, { cause: error, line });
}

function countNewlines(cells: readonly string[]): number {
  let count = 0;
  for (let i = 0; i < cells.length; i++) {
    const cell = cells[i]!;
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
      if (error !== undefined) return reject(error instanceof Error ? error : new Error('table reading failed'));
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
        return reject(new DatasetError(file, null, what));
      }
      resolve(store);
    };
    const opened = openFile(file, finish);
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
      opened.input.setEncoding('utf8');
      opened.input.on('data', (chunk: string) => {
        if (done) return;
        try {
          const lines = (rest + chunk).split('\n');
          rest = lines.pop()!;
          for (const text of lines) {
            take(text);
            if (seen >= end) return finish();
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

    const parser = parseCsv({ delimiter: format === 'tsv' ? '\t' : ',', bom: true, relax_column_count: true });
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
          if (seen >= end) return finish();
        }
      } catch (error) {
        finish(error);
      }
    });
    parser.on('end', () => finish());
    opened.input.pipe(parser);
  });
}
