/**
 * `distillery/runtime`'s OnnxModel: the shared model (src/runtime/onnx-model.ts) on Node's platform — the file read
 * from disk, onnxruntime-node, sharp for the images the shared PNG reader does not take.
 */
import { readFile } from 'node:fs/promises';
import { basename, extname, resolve } from 'node:path';
import { sharpDecoder } from '../preprocess/image';
import { checkLoadOptions } from './describe';
import { ModelLoadError } from './errors';
import { describeBytes, openModel, OnnxModelBase, type LoadedModel } from './onnx-model';
import type { ModelBytes, Platform } from './platform';
import { createSession, defaultThreads, runRows } from './session';
import type { LoadOptions } from './types';

/** Node's side of the platform seam. */
const NODE: Platform = {
  openSession: async (bytes, options) => {
    const session = await createSession(bytes, options.threads ?? defaultThreads());
    return { run: (plan, data, rows) => runRows(session, plan, data, rows), release: () => session.release() };
  },
  decodePixels: sharpDecoder,
};

export async function readModelBytes(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ModelLoadError(file, 'not-found', 'no such file', { cause: error });
    throw new ModelLoadError(file, 'unreadable', `cannot read the file (${code ?? String(error)})`, { cause: error });
  }
}

/** A file's bytes, named as the caller named it (errors) and by its absolute path (`info.file`). */
async function modelBytes(file: string): Promise<ModelBytes> {
  return { bytes: await readModelBytes(file), file, location: resolve(file), stem: basename(file, extname(file)) };
}

/** Reads a model file (for the pool, which opens its sessions in worker threads). */
export async function readModel(file: string, options: LoadOptions): Promise<LoadedModel> {
  checkLoadOptions(options); // before the file is read: a bad option is named even when the file is missing
  return describeBytes(await modelBytes(file), options, NODE.decodePixels);
}

/** A model on one onnxruntime-node session. Cheap to call concurrently: runs are async. */
export class OnnxModel extends OnnxModelBase {
  /**
   * Loads an ONNX file into one onnxruntime session: any Distillery export (its `distillery.*` metadata says how to
   * feed it and read its output), or a foreign model, described by the graph and `options`.
   *
   * @example
   * ```ts
   * import { OnnxModel } from 'distillery/runtime';
   *
   * const model = await OnnxModel.load('runs/mine/small.onnx');
   * try {
   *   const prediction = await model.predict(new Float32Array(28 * 28)); // raw pixels 0-255
   *   if (prediction.task === 'classification') console.log(prediction.label);
   * } finally {
   *   await model.close();
   * }
   * ```
   * @param file - path to the `.onnx` file
   * @param options - overrides of the metadata (input and output names, labels, normalisation, threads…)
   * @returns the loaded model; close it when done
   * @throws {@link ModelLoadError} when the file is missing, is not ONNX, has invalid metadata, or onnxruntime rejects it
   */
  static async load(file: string, options: LoadOptions = {}): Promise<OnnxModel> {
    checkLoadOptions(options); // before the file is read: a bad option is named even when the file is missing
    return new OnnxModel(await openModel(await modelBytes(file), options, NODE));
  }
}
