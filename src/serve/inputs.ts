/**
 * A predict request's JSON inputs → what the runtime takes, per model. JSON has no bytes, so an image comes as
 * `{ "image": "<base64>" }`; everything else (numbers, texts, table rows) is already a runtime input. The runtime
 * checks each input fully (shape, NaN, columns, decoding); this file adds only what HTTP needs on top.
 */
import { InputValidationError, describeValue } from '../core/errors';
import { isEncodedImage } from '../preprocess/image-core';
import type { ModelInfo, ModelInput } from '../runtime/types';
import type { JsonInput } from './schemas';

/** The input kinds a model takes (what GET /v1/models lists as `accepts`). */
export type InputKind = 'numbers' | 'table-row' | 'text' | 'image';

export function acceptedKinds(info: ModelInfo): InputKind[] {
  const spec = info.preprocess;
  if (spec?.kind === 'image') return ['numbers', 'image'];
  if (spec?.kind !== 'table') return ['numbers'];
  // A text given alone is the row of a model whose only feature column is its text (src/runtime/raw-input.ts).
  const onlyText = spec.columns.length === 1 && spec.columns[0]?.type === 'text';
  return onlyText ? ['numbers', 'table-row', 'text'] : ['numbers', 'table-row'];
}

/** Strict base64 (the standard alphabet, padded): Buffer.from would skip junk characters and decode the rest. */
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** One JSON input → the runtime's input for `info`'s model; `where` is its field, `inputs[i]`. */
export function toModelInput(info: ModelInfo, input: JsonInput, where: string): ModelInput {
  if (typeof input !== 'object' || Array.isArray(input)) return input;
  if (info.preprocess?.kind === 'image' && isImageObject(input)) return imageBytes(input.image, `${where}.image`);
  checkColumns(info, input, where);
  return input;
}

function isImageObject(input: object): input is { image: string } {
  const keys = Object.keys(input);
  return keys.length === 1 && keys[0] === 'image' && typeof (input as { image: unknown }).image === 'string';
}

function imageBytes(base64: string, where: string): Uint8Array {
  if (!BASE64.test(base64))
    throw new InputValidationError(where, 'an image file, base64-encoded', 'text that is not base64');
  return imageFile(Buffer.from(base64, 'base64'), where);
}

/** An image file's bytes (from base64, or a multipart upload), checked to be one before it reaches the batcher. */
export function imageFile(bytes: Uint8Array, where: string): Uint8Array {
  if (!isEncodedImage(bytes))
    throw new InputValidationError(where, 'a PNG, JPEG or WebP file', `${bytes.length} bytes of something else`);
  return bytes;
}

/**
 * Every feature column must be named in a row. The runtime fills a missing key with the column's training fill (a
 * missing value, as in a CSV), which is right for a file but hides a client that forgot or misspelt a column; over
 * HTTP a missing value is said explicitly, with null.
 */
function checkColumns(info: ModelInfo, row: Readonly<Record<string, unknown>>, where: string): void {
  const spec = info.preprocess;
  if (spec?.kind !== 'table') return; // the runtime says this model takes no rows
  for (const column of spec.columns)
    if (!Object.hasOwn(row, column.name))
      throw new InputValidationError(
        `${where}.${column.name}`,
        `a value for column ${column.name} (null for a missing value)`,
        describeValue(undefined),
      );
}

/** The runtime names a single input's field `sample…`; the request names it `inputs[i]…`. */
export function requestField(field: string, where: string): string {
  return field === 'sample' || field.startsWith('sample.') || field.startsWith('sample[')
    ? `${where}${field.slice('sample'.length)}`
    : field;
}
