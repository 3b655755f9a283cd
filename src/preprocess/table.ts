/**
 * The table encoding — the one implementation, used to encode the engine's training arrays (src/data/table.ts)
 * and a service's rows in the runtime (`OnnxModel.predict(row)`).
 *
 * Each column gives its slots in order: numeric → its value (missing → `fill`); boolean → 1 / 0 (missing →
 * `fill`); categorical → one-hot over `categories` (missing → `missingCategory`'s slot; unseen → all 0 or an
 * error). Standardisation is not done here: the model's recorded per-feature normalisation does it, as for
 * any vector input.
 */
import type { TablePreprocessSpec, TableRow } from './spec';

/** Encodes one row into `out` at `offset` (tableWidth(spec) slots). Throws InputValidationError naming the column. */
export function encodeRow(_spec: TablePreprocessSpec, _row: TableRow, _out: Float32Array, _offset: number, _where: string): void {
  throw new Error('table encoding: not implemented yet');
}
