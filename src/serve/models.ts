/**
 * The models a server serves: one .onnx file, or every student of a run folder that `distillery verify` accepts.
 * Each is an OnnxModel (or a PredictionPool, with `threads`) behind its own dynamic batcher.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunReport } from '../experiment/report-types';
import { verifyRun } from '../experiment/verify';
import type { Batcher, BatcherOptions } from '../runtime/batcher';
import { OnnxModel } from '../runtime/model';
import { PredictionPool } from '../runtime/pool';
import type { ModelInfo } from '../runtime/types';
import { ServeSetupError } from './errors';

/** One served model. */
export interface ServedModel {
  /** Its name in URLs: the report's name in a run folder, the model's own (`info.name`) for a single file. */
  readonly name: string;
  readonly info: ModelInfo;
  readonly batcher: Batcher;
  /** Answers what the batcher holds, then frees the session (or the pool's workers). */
  close(): Promise<void>;
}

export interface LoadOptions {
  /** Worker threads (a PredictionPool); absent: one OnnxModel, whose session uses the intra-op threads. */
  readonly threads?: number;
  readonly batching: BatcherOptions;
  /** Called with each batch's row count, for the batch-size histogram. */
  readonly onBatch: (model: string, rows: number) => void;
}

/** What the target names: the .onnx files to serve, by name (a run folder is verified first). */
export function modelFiles(target: string): Map<string, string> {
  if (!fs.existsSync(target)) throw new ServeSetupError('not-found', `${target}: no such file or folder`);
  if (fs.statSync(target).isDirectory()) return runFolderModels(target);
  if (!target.endsWith('.onnx'))
    throw new ServeSetupError('not-a-model', `${target}: expected an .onnx file or a run folder`);
  return new Map([['', target]]); // named by its metadata once loaded
}

/**
 * A run folder's students (and their int8/fp16 variants), only when the whole folder passes `verifyRun`: one
 * tampered or stray file means the folder is not what its run wrote, and serving the rest would hide that.
 */
function runFolderModels(folder: string): Map<string, string> {
  const result = verifyRun(folder);
  if (!result.ok) {
    const count = `${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`;
    const detail = `${result.folder} failed distillery verify (${count}): ${result.problems.join('; ')}`;
    throw new ServeSetupError('verify-failed', detail, result.problems);
  }
  const report = JSON.parse(fs.readFileSync(path.join(result.folder, 'report.json'), 'utf8')) as RunReport;
  const files = new Map<string, string>();
  for (const student of report.students) {
    // A labels twin (sameAs) is another name for a student that is served already.
    if (student.sameAs !== undefined) continue;
    files.set(student.name, path.join(result.folder, student.onnx));
    for (const variant of student.variants ?? []) files.set(variant.name, path.join(result.folder, variant.onnx));
  }
  if (files.size === 0) throw new ServeSetupError('no-models', `${result.folder}: the run has no student .onnx file`);
  return files;
}

/** Loads every model; if one fails, those already loaded are closed before the error is thrown. */
export async function loadModels(files: ReadonlyMap<string, string>, options: LoadOptions): Promise<ServedModel[]> {
  const served: ServedModel[] = [];
  try {
    for (const [name, file] of files) served.push(await loadModel(name, file, options));
  } catch (error) {
    await Promise.all(served.map((model) => model.close()));
    throw error;
  }
  return served;
}

async function loadModel(name: string, file: string, options: LoadOptions): Promise<ServedModel> {
  const runner =
    options.threads === undefined
      ? await OnnxModel.load(file)
      : await PredictionPool.create(file, { workers: options.threads });
  const servedName = name === '' ? runner.info.name : name;
  let batcher: Batcher;
  try {
    batcher = runner.batcher(options.batching);
  } catch (error) {
    await runner.close();
    throw error;
  }
  batcher.onBatch((rows) => options.onBatch(servedName, rows));
  return {
    name: servedName,
    info: runner.info,
    batcher,
    close: async () => {
      await batcher.close();
      await runner.close();
    },
  };
}
