/**
 * Raw inputs → samples, with the model's recorded preprocessing (`distillery.preprocess`): a table row is
 * encoded, an encoded image decoded, a text tokenized — by the same code that encoded the model's training data
 * (src/preprocess). A sample passes through untouched, so the array path costs one type check.
 */
import { decodeImage, isEncodedImage, type PixelDecoder } from '../preprocess/image-core';
import type { PreprocessSpec, TablePreprocessSpec, TableRow } from '../preprocess/spec';
import { compileTable, encodeRow, encodeRows, type CompiledTable, type EncodedRows } from '../preprocess/table';
import type { TextTokenizer } from '../preprocess/text';
import { InputValidationError, describeValue } from '../core/errors';
import type { Batch, ModelInput, Sample } from './types';

/** A plain object: a table row (arrays, typed arrays and Buffers are samples or encoded images). */
export function isTableRow(input: unknown): input is TableRow {
  return typeof input === 'object' && input !== null && !Array.isArray(input) && !ArrayBuffer.isView(input);
}

function isInputList(inputs: Batch): inputs is readonly ModelInput[] {
  return Array.isArray(inputs);
}

export class RawInputs {
  /** A table with a text column: its compiled form (with the tokenizer); null for any other model. */
  private readonly textTable: CompiledTable | null;
  /** The text column's name when it is the table's only feature column (then a plain string is an input). */
  private readonly onlyText: string | null;

  constructor(
    private readonly spec: PreprocessSpec | null,
    tokenizer: TextTokenizer | null,
    /** The platform's decoder for encoded images (after the shared plain-PNG path). */
    private readonly decodePixels: PixelDecoder,
  ) {
    const table = spec?.kind === 'table' ? compileTable(spec, tokenizer ?? undefined) : null;
    this.textTable = table?.text ? table : null;
    this.onlyText = this.textTable?.columns.length === 1 ? (this.textTable.text?.name ?? null) : null;
  }

  /** Whether the model tokenizes a text column (and so takes batches padded to their longest text). */
  get hasText(): boolean {
    return this.textTable !== null;
  }

  /** The sample for one input: the input itself, or its encoding (a Promise only for an encoded image). */
  sample(input: ModelInput, where: string): Sample | Promise<Sample> {
    if (typeof input === 'string') return this.row(this.textRow(input, where), where);
    if (isTableRow(input)) return this.row(input, where);
    if (this.spec?.kind === 'image' && input instanceof Uint8Array && isEncodedImage(input))
      return decodeImage(this.decodePixels, this.spec, input, where);
    return input;
  }

  /** The samples for several inputs; a flat typed array passes through. */
  batch(inputs: Batch, where: string): Batch | Promise<Batch> {
    if (!isInputList(inputs)) return inputs;
    const samples = inputs.map((input, index) => this.sample(input, `${where}[${index}]`));
    const pending = samples.filter((sample): sample is Promise<Sample> => sample instanceof Promise);
    return pending.length > 0 ? Promise.all(samples.map((sample) => Promise.resolve(sample))) : (samples as Sample[]);
  }

  /**
   * A text model's rows (row objects, or texts when the text column is the only feature), encoded for one run with
   * the text slots padded to the batch's longest text; null when the model has no text column or an input is a
   * sample (then `sample`/`batch` encode rows to the full maxLength, which the model gives the same output for).
   */
  textRows(inputs: readonly ModelInput[], where: (index: number) => string): EncodedRows | null {
    const table = this.textTable;
    if (table === null || inputs.length === 0) return null;
    if (!inputs.every((input) => typeof input === 'string' || isTableRow(input))) return null;
    const rows = inputs.map((input, index) => (typeof input === 'string' ? this.textRow(input, where(index)) : input));
    return encodeRows(this.spec as TablePreprocessSpec, rows, where);
  }

  /** A text given as the input: the row of a model whose only feature column is text. */
  private textRow(text: string, where: string): TableRow {
    if (this.onlyText !== null) return { [this.onlyText]: text };
    const expected =
      this.textTable !== null
        ? `a row object (this model's table has other columns than its text column ${this.textTable.text?.name ?? ''})`
        : `${this.spec?.kind === 'image' ? 'an image or its pixels' : this.spec?.kind === 'table' ? 'a row object' : 'an array of numbers'}: this model has no text column`;
    throw new InputValidationError(where, expected, describeValue(text));
  }

  private row(row: TableRow, where: string): Float32Array {
    if (this.spec?.kind !== 'table') {
      const takes = this.spec?.kind === 'image' ? 'an image (its encoded bytes) or its pixels' : 'an array of numbers';
      throw new InputValidationError(where, `${takes}: this model was not trained on a table`, describeValue(row));
    }
    const out = new Float32Array(compileTable(this.spec).width);
    encodeRow(this.spec, row, out, 0, where);
    return out;
  }
}
