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
 */
import { describeValue, InputValidationError } from '../core/errors';
import type { TableColumnSpec, TablePreprocessSpec, TableRow } from './spec';

const NUMERIC = 0;
const BOOLEAN = 1;
const CATEGORICAL = 2;

/** One column as the hot loops use it: its first slot, its width, and (categorical) a category → slot map. */
export interface CompiledColumn {
  readonly name: string;
  readonly kind: typeof NUMERIC | typeof BOOLEAN | typeof CATEGORICAL;
  /** The column's first slot in the row's encoding. */
  readonly slot: number;
  /** Slots: 1, or the number of categories. */
  readonly width: number;
  /** Numeric and boolean: the value of a missing cell. */
  readonly fill: number;
  /** Categorical: category → its slot relative to `slot`. */
  readonly index: ReadonlyMap<string, number>;
  /** Categorical: the missing category's slot, or -1 when training had no missing cell. */
  readonly missingSlot: number;
  readonly unseenError: boolean;
  readonly spec: TableColumnSpec;
}

export interface CompiledTable {
  readonly width: number;
  readonly columns: readonly CompiledColumn[];
  readonly byName: ReadonlyMap<string, CompiledColumn>;
  /** The label / target columns: accepted in a row (a CSV row often carries them) and ignored. */
  readonly targets: ReadonlySet<string>;
}

const compiled = new WeakMap<TablePreprocessSpec, CompiledTable>();

/** The spec as the encoder uses it, built once per spec object (cached). */
export function compileTable(spec: TablePreprocessSpec): CompiledTable {
  let table = compiled.get(spec);
  if (table) return table;
  let slot = 0;
  const columns = spec.columns.map((column): CompiledColumn => {
    const first = slot;
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
      spec: column,
    };
  });
  table = {
    width: slot,
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

/** Encodes one row into `out` at `offset` (compileTable(spec).width slots). Throws InputValidationError naming the column. */
export function encodeRow(
  spec: TablePreprocessSpec,
  row: TableRow,
  out: Float32Array,
  offset: number,
  where: string,
): void {
  const table = compileTable(spec);
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
  for (const column of table.columns) {
    encodeValue(column, row[column.name], out, offset + column.slot, where);
  }
}
