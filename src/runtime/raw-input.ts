/**
 * Raw inputs → samples, with the model's recorded preprocessing (`distillery.preprocess`): a table row is
 * encoded, an encoded image decoded — by the same code that encoded the model's training data
 * (src/preprocess). A sample passes through untouched, so the array path costs one type check.
 */
import { isEncodedImage, decodeImage } from '../preprocess/image';
import type { PreprocessSpec, TableRow } from '../preprocess/spec';
import { compileTable, encodeRow } from '../preprocess/table';
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
  constructor(private readonly spec: PreprocessSpec | null) {}

  /** The sample for one input: the input itself, or its encoding (a Promise only for an encoded image). */
  sample(input: ModelInput, where: string): Sample | Promise<Sample> {
    if (isTableRow(input)) return this.row(input, where);
    if (this.spec?.kind === 'image' && input instanceof Uint8Array && isEncodedImage(input))
      return decodeImage(this.spec, input, where);
    return input;
  }

  /** The samples for several inputs; a flat typed array passes through. */
  batch(inputs: Batch, where: string): Batch | Promise<Batch> {
    if (!isInputList(inputs)) return inputs;
    const samples = inputs.map((input, index) => this.sample(input, `${where}[${index}]`));
    const pending = samples.filter((sample): sample is Promise<Sample> => sample instanceof Promise);
    return pending.length > 0 ? Promise.all(samples.map((sample) => Promise.resolve(sample))) : (samples as Sample[]);
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
