/**
 * `distillery/web`'s OnnxModel: the model every platform shares (src/runtime/onnx-model.ts) on the browser's platform
 * (src/web/platform.ts), loaded from a URL, an ArrayBuffer, a typed array or a Blob.
 */
import { z } from 'zod';
import { InputValidationError } from '../core/errors';
import { checkLoadOptions } from '../runtime/describe';
import { ModelLoadError } from '../runtime/errors';
import { openModel, OnnxModelBase } from '../runtime/onnx-model';
import type { ModelBytes } from '../runtime/platform';
import { BROWSER, checkThreads, type WebLoadOptions } from './platform';

/** Where a model comes from in a page: a URL (absolute or relative to the page), its bytes, or a Blob (a File). */
export type ModelSource = string | URL | ArrayBuffer | ArrayBufferView | Blob;

/** The browser's own load options (the shared ones are the Node runtime's). */
const webOptionsSchema = z.object({
  backend: z.enum(['wasm', 'webgpu']).optional(),
  wasmPaths: z.string().min(1).optional(),
});

/** The last path segment of a URL without its extension: the name of a model without `distillery.name`. */
function stemOf(url: string): string {
  const last = url.split(/[?#]/)[0]?.split('/').pop() ?? '';
  return last.replace(/\.[^.]*$/, '') || 'model';
}

async function fetchBytes(url: string, named: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError(named, 'unreadable', `cannot fetch the model (${detail})`, { cause: error });
  }
  if (response.status === 404 || response.status === 410)
    throw new ModelLoadError(named, 'not-found', `the server answered ${response.status}`);
  if (!response.ok) throw new ModelLoadError(named, 'unreadable', `the server answered ${response.status}`);
  return readBody(() => response.arrayBuffer(), named);
}

/** A body's bytes (a fetch's, a Blob's); a read that fails (the connection dropped, the file went away) is typed. */
async function readBody(read: () => Promise<ArrayBuffer>, named: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await read());
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new ModelLoadError(named, 'unreadable', `cannot read the model's bytes (${detail})`, { cause: error });
  }
}

/** A URL given as a string, absolute or relative to the page (or the worker); a malformed one names `source`. */
function absoluteUrl(source: string | URL): string {
  const base = typeof location === 'undefined' ? undefined : location.href;
  try {
    return new URL(String(source), base).href;
  } catch {
    throw new InputValidationError('source', 'a URL (absolute, or relative to the page)', String(source));
  }
}

/** The source's bytes and names. */
async function sourceBytes(source: ModelSource): Promise<ModelBytes> {
  if (typeof source === 'string' || source instanceof URL) {
    const url = absoluteUrl(source);
    return { bytes: await fetchBytes(url, String(source)), file: String(source), location: url, stem: stemOf(url) };
  }
  if (source instanceof Blob) {
    const name = 'name' in source && typeof source.name === 'string' ? source.name : '(Blob)';
    return { bytes: await readBody(() => source.arrayBuffer(), name), file: name, location: name, stem: stemOf(name) };
  }
  if (source instanceof ArrayBuffer)
    return { bytes: new Uint8Array(source), file: '(ArrayBuffer)', location: '(ArrayBuffer)', stem: 'model' };
  if (ArrayBuffer.isView(source)) {
    const bytes = new Uint8Array(source.buffer, source.byteOffset, source.byteLength);
    return { bytes, file: '(bytes)', location: '(bytes)', stem: 'model' };
  }
  throw new InputValidationError('source', 'a URL, an ArrayBuffer, a typed array or a Blob', typeof source);
}

/** A model on one onnxruntime-web session, in a page or a worker. Same API and results as the Node runtime's. */
export class OnnxModel extends OnnxModelBase {
  /**
   * Loads a model into one onnxruntime-web session: any Distillery export (its `distillery.*` metadata says how to
   * feed it and read its output, its tokenizer travels inside it), or a foreign model described by `options`.
   *
   * @example
   * ```ts
   * import { OnnxModel } from 'distillery/web';
   *
   * const model = await OnnxModel.load('/models/mnist-student.onnx', { wasmPaths: '/ort/' });
   * const prediction = await model.predict(pixels); // 784 raw pixels 0-255, a PNG's bytes, a row or a text
   * ```
   * @param source - a URL (fetched), the file's bytes, or a Blob such as a File from an `<input type="file">`
   * @param options - the Node runtime's overrides, and the backend, threads and where onnxruntime-web's files are
   * @returns the loaded model; close it when done
   * @throws {@link ModelLoadError} when the model cannot be fetched, is not ONNX, has invalid metadata, or
   * onnxruntime-web rejects it
   * @throws {@link InputValidationError} naming the option that is out of range
   */
  static async load(source: ModelSource, options: WebLoadOptions = {}): Promise<OnnxModel> {
    // Every option is checked before anything is fetched.
    checkLoadOptions(options, webOptionsSchema);
    checkThreads(options.threads);
    return new OnnxModel(await openModel(await sourceBytes(source), options, BROWSER));
  }
}
