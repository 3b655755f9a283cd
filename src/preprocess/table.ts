/**
 * The table encoding — the one implementation, used to encode the engine's training arrays (src/data/table.ts)
 * and a service's rows in the runtime (`OnnxModel.predict(row)`).
 *
 * Each column gives its slots in order: numeric → its value (missing → `fill`); boolean → 1 / 0 (missing →
 * `fill`); categorical → one-hot over `categories` (missing → `missingCategory`'s slot; unseen → all 0 or an
 * error). Standardisation is not done here: the model's recorded per-feature normalisation does it, as for
 * any vector input.
 *
 * A value is missing when it is absent, null, undefined or ''. A categorical column whose training data had
 * no missing cell treats a missing value as unseen (zeros, or an error with `unseen: 'error'`).
 *
 * `encodeValue` is the unit: `encodeRow` applies it to each column of a row object; src/data/table.ts applies
 * it once per distinct value of a column (and per cell for high-cardinality numeric columns) and copies the
 * result, so training arrays and served rows go through the same code.
 *
 * A text column (at most one, always last) takes `maxLength` slots after the F fixed ones: its token ids (as floats,
 * exact below 2^24) from the model's tokenizer (src/preprocess/text.ts), right-padded with `padId`, so a row is
 * `[F fixed slots | maxLength id slots]`. A missing or whitespace-only text has no tokens (every slot padding). The
 * runtime sends a batch padded only to its longest text (`encodeRows`): text models are padding invariant.
 */
import { describeValue, InputValidationError } from '../core/errors';
import type { TableColumnSpec, TablePreprocessSpec, TableRow } from './spec';
import type { TextTokenizer } from './text';

const NUMERIC = 0;
const BOOLEAN = 1;
const CATEGORICAL = 2;
const TEXT = 3;

/** One column as the hot loops use it: its first slot, its width, and (categorical) a category → slot map. */
export interface CompiledColumn {
  readonly name: string;
  readonly kind: typeof NUMERIC | typeof BOOLEAN | typeof CATEGORICAL | typeof TEXT;
  /** The column's first slot in the row's encoding. */
  readonly slot: number;
  /** Slots: 1, the number of categories, or (text) maxLength. */
  readonly width: number;
  /** Numeric and boolean: the value of a missing cell. */
  readonly fill: number;
  /** Categorical: category → its slot relative to `slot`. */
  readonly index: ReadonlyMap<string, number>;
  /** Categorical: the missing category's slot, or -1 when training had no missing cell. */
  readonly missingSlot: number;
  readonly unseenError: boolean;
  /** Text: the tokenizer (null until one is given to `compileTable`), and the padding id. */
  readonly tokenizer: TextTokenizer | null;
  readonly padId: number;
  readonly spec: TableColumnSpec;
}

export interface CompiledTable {
  /** Slots of a whole row: the fixed ones, then the text column's maxLength. */
  readonly width: number;
  /** Slots before the text column's ids (all of them without a text column). */
  readonly fixedWidth: number;
  /** The text column, or null. */
  readonly text: CompiledColumn | null;
  readonly columns: readonly CompiledColumn[];
  readonly byName: ReadonlyMap<string, CompiledColumn>;
  /** The label / target columns: accepted in a row (a CSV row often carries them) and ignored. */
  readonly targets: ReadonlySet<string>;
}

const compiled = new WeakMap<TablePreprocessSpec, CompiledTable>();

/**
 * Why a table spec's text columns are not usable (more than one, or not the last column), or null. The zod schema
 * (spec.ts) checks the same, so a spec read from metadata never fails here.
 */
export function textColumnProblem(spec: TablePreprocessSpec): string | null {
  const texts = spec.columns.filter((column) => column.type === 'text');
  if (texts.length > 1) return `at most one text column, found ${texts.map((column) => column.name).join(' and ')}`;
  if (texts.length === 1 && spec.columns[spec.columns.length - 1]?.type !== 'text')
    return `the text column ${texts[0]?.name ?? ''} must be the last column`;
  return null;
}

/**
 * The spec as the encoder uses it, built once per spec object (cached). A spec with a text column needs its
 * tokenizer (loaded from the model's `distillery.tokenizer`, src/preprocess/text.ts) before a row can be encoded;
 * it is given once, later calls may leave it out.
 */
export function compileTable(spec: TablePreprocessSpec, tokenizer?: TextTokenizer): CompiledTable {
  let table = compiled.get(spec);
  if (table && (tokenizer === undefined || table.text === null || table.text.tokenizer === tokenizer)) return table;
  const problem = textColumnProblem(spec);
  if (problem !== null) throw new Error(`invalid table preprocess: ${problem}`);
  let slot = 0;
  const columns = spec.columns.map((column): CompiledColumn => {
    const first = slot;
    if (column.type === 'text') {
      slot += column.maxLength;
      return {
        name: column.name,
        kind: TEXT,
        slot: first,
        width: column.maxLength,
        fill: 0,
        index: new Map(),
        missingSlot: -1,
        unseenError: false,
        tokenizer: tokenizer ?? null,
        padId: column.padId,
        spec: column,
      };
    }
    if (column.type === 'categorical') {
      const index = new Map<string, number>();
      column.categories.forEach((category, position) => index.set(category, position));
      slot += column.categories.length;
      const missingSlot = column.missingCategory === null ? -1 : (index.get(column.missingCategory) ?? -1);
      return {
        name: column.name,
        kind: CATEGORICAL,
        slot: first,
        width: column.categories.length,
        fill: 0,
        index,
        missingSlot,
        unseenError: column.unseen === 'error',
        tokenizer: null,
        padId: 0,
        spec: column,
      };
    }
    slot += 1;
    const kind = column.type === 'numeric' ? NUMERIC : BOOLEAN;
    return {
      name: column.name,
      kind,
      slot: first,
      width: 1,
      fill: column.fill,
      index: new Map(),
      missingSlot: -1,
      unseenError: false,
      tokenizer: null,
      padId: 0,
      spec: column,
    };
  });
  const text = columns.find((column) => column.kind === TEXT) ?? null;
  table = {
    width: slot,
    fixedWidth: text === null ? slot : text.slot,
    text,
    columns,
    byName: new Map(columns.map((column) => [column.name, column])),
    targets: new Set(spec.targets),
  };
  compiled.set(spec, table);
  return table;
}

/** Missing: absent (undefined), null or ''. */
export function isMissing(value: unknown): value is undefined | null | '' {
  return value === undefined || value === null || value === '';
}

/** A finite number from a cell's text, else NaN (''/whitespace, 'abc', 'Infinity' and '1e999' are not numbers). */
export function parseNumber(text: string): number {
  const value = +text;
  if (value - value !== 0) return NaN; // NaN or ±Infinity
  if (value === 0 && text.trim() === '') return NaN; // +'' and +'  ' are 0
  return value;
}

/** true/false (any case), 1/0: 1 or 0; anything else -1. */
export function parseBoolean(value: unknown): number {
  if (value === true || value === 1) return 1;
  if (value === false || value === 0) return 0;
  if (typeof value === 'string') {
    const lower = value.length === 4 || value.length === 5 ? value.toLowerCase() : value;
    if (lower === 'true' || lower === '1') return 1;
    if (lower === 'false' || lower === '0') return 0;
  }
  return -1;
}

/** A category's name as the encoding knows it: strings as they are, numbers and booleans as JSON writes them. */
export function categoryOf(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return Number.isFinite(value) ? String(value) : undefined;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  return undefined;
}

function listed(values: readonly string[], limit = 12): string {
  const shown = values.slice(0, limit).map((value) => (value === '' ? '(missing)' : value));
  return shown.join(', ') + (values.length > limit ? `, … (${values.length} in all)` : '');
}

/**
 * Writes one column's encoding of `value` at `out[base .. base + column.width)`. Throws InputValidationError
 * (field `<where>.<column>`) for a value the column cannot take.
 */
export function encodeValue(
  column: CompiledColumn,
  value: unknown,
  out: Float32Array,
  base: number,
  where: string,
): void {
  if (column.kind === NUMERIC) {
    if (typeof value === 'number') {
      if (value - value !== 0)
        throw new InputValidationError(
          `${where}.${column.name}`,
          'a finite number (numeric column)',
          describeValue(value),
        );
      out[base] = value;
    } else if (isMissing(value)) {
      out[base] = column.fill;
    } else {
      const number = typeof value === 'string' ? parseNumber(value) : NaN;
      if (number !== number)
        throw new InputValidationError(`${where}.${column.name}`, 'a number (numeric column)', describeValue(value));
      out[base] = number;
    }
    return;
  }
  if (column.kind === TEXT) {
    encodeText(column, value, out, base, column.width, where);
    return;
  }
  if (column.kind === BOOLEAN) {
    if (isMissing(value)) {
      out[base] = column.fill;
      return;
    }
    const bit = parseBoolean(value);
    if (bit < 0)
      throw new InputValidationError(`${where}.${column.name}`, 'true or false (boolean column)', describeValue(value));
    out[base] = bit;
    return;
  }
  for (let slot = 0; slot < column.width; slot++) out[base + slot] = 0;
  let position: number | undefined;
  if (isMissing(value)) {
    if (column.missingSlot >= 0) position = column.missingSlot;
  } else {
    const category = categoryOf(value);
    if (category === undefined) {
      throw new InputValidationError(
        `${where}.${column.name}`,
        'a string, number or boolean (categorical column)',
        describeValue(value),
      );
    }
    position = column.index.get(category);
  }
  if (position !== undefined) {
    out[base + position] = 1;
  } else if (column.unseenError) {
    const categories = column.spec.type === 'categorical' ? column.spec.categories : [];
    const expected = `one of the training categories (${listed(categories)})${isMissing(value) ? ': the column had no missing values in training' : ''}`;
    throw new InputValidationError(`${where}.${column.name}`, expected, describeValue(value));
  } // else unseen: all zeros
}

/** What encoding one text cell found. */
export interface TextCell {
  /** Tokens written (at most the slots given). */
  readonly tokens: number;
  /** The text had more tokens than `maxLength` (and lost some, on the column's truncation side). */
  readonly truncated: boolean;
  /** Missing (absent, null, ''), or no token at all (whitespace only…): every slot is padding. */
  readonly empty: boolean;
}

/** A text cell's ids: missing → none; a string → its tokens; anything else an InputValidationError. */
export function textIds(column: CompiledColumn, value: unknown, where: string): { ids: number[]; truncated: boolean } {
  if (isMissing(value)) return { ids: [], truncated: false };
  if (typeof value !== 'string')
    throw new InputValidationError(`${where}.${column.name}`, 'a string (text column)', describeValue(value));
  if (column.tokenizer === null)
    throw new Error(`the text column ${column.name} has no tokenizer: pass it to compileTable`);
  return column.tokenizer.encode(value);
}

/**
 * Writes a text cell's token ids at `out[base .. base + slots)`, right-padded with the column's padId (`slots` is
 * maxLength for a training row, or the batch's longest text in the runtime). Throws InputValidationError (field
 * `<where>.<column>`) for a value that is not a string or missing.
 */
export function encodeText(
  column: CompiledColumn,
  value: unknown,
  out: Float32Array,
  base: number,
  slots: number,
  where: string,
): TextCell {
  const { ids, truncated } = textIds(column, value, where);
  writeIds(ids, column.padId, out, base, slots);
  return { tokens: Math.min(ids.length, slots), truncated, empty: ids.length === 0 };
}

function writeIds(ids: readonly number[], padId: number, out: Float32Array, base: number, slots: number): void {
  const used = Math.min(ids.length, slots);
  for (let i = 0; i < used; i++) out[base + i] = ids[i] as number;
  if (used < slots) out.fill(padId, base + used, base + slots);
}

function checkKeys(table: CompiledTable, row: TableRow, where: string): void {
  for (const key in row) {
    if (!table.byName.has(key) && !table.targets.has(key)) {
      const names = table.columns.map((column) => column.name);
      throw new InputValidationError(
        `${where}.${key}`,
        `no such column (the model's columns: ${listed(names, 20)})`,
        describeValue(row[key]),
      );
    }
  }
}

/**
 * Encodes one row into `out` at `offset` (compileTable(spec).width slots: a text column's ids padded to maxLength).
 * Throws InputValidationError naming the column.
 */
export function encodeRow(
  spec: TablePreprocessSpec,
  row: TableRow,
  out: Float32Array,
  offset: number,
  where: string,
): void {
  const table = compileTable(spec);
  checkKeys(table, row, where);
  for (const column of table.columns) {
    encodeValue(column, row[column.name], out, offset + column.slot, where);
  }
}

/**
 * Text slots a batch gets at least, even when its texts are shorter: convolutions over time (textcnn's widths up to
 * 5) need a few positions, and padding is free for a padding-invariant model. Never more than maxLength.
 */
export const MIN_TEXT_SLOTS = 8;

/** Rows encoded for one run: `rows × width` values. */
export interface EncodedRows {
  readonly data: Float32Array<ArrayBuffer>;
  readonly rows: number;
  /** Slots per row: the fixed ones plus the batch's text slots (the table's width without a text column). */
  readonly width: number;
}

/**
 * Encodes rows for one run of a model: with a text column, its ids are padded only to the longest text of the batch
 * (at least min(MIN_TEXT_SLOTS, maxLength) slots), since text models take any width on axis 1 and give the same output
 * however many pad slots follow. `where(i)` names row i in errors.
 */
export function encodeRows(
  spec: TablePreprocessSpec,
  rows: readonly TableRow[],
  where: (index: number) => string,
): EncodedRows {
  const table = compileTable(spec);
  const text = table.text;
  if (text === null) {
    const data = new Float32Array(rows.length * table.width);
    rows.forEach((row, index) => encodeRow(spec, row, data, index * table.width, where(index)));
    return { data, rows: rows.length, width: table.width };
  }
  const encoded = rows.map((row, index) => {
    checkKeys(table, row, where(index));
    return textIds(text, row[text.name], where(index)).ids;
  });
  let longest = Math.min(MIN_TEXT_SLOTS, text.width);
  for (const ids of encoded) if (ids.length > longest) longest = ids.length;
  const width = table.fixedWidth + longest;
  const data = new Float32Array(rows.length * width);
  rows.forEach((row, index) => {
    const base = index * width;
    for (const column of table.columns)
      if (column !== text) encodeValue(column, row[column.name], data, base + column.slot, where(index));
    writeIds(encoded[index] as number[], text.padId, data, base + table.fixedWidth, longest);
  });
  return { data, rows: rows.length, width };
}
