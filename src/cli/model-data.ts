/**
 * A model file and the data given with it: `eval`, `bench`, `predict` and `quantize` open a model for the length of a
 * command, and read tables and image folders through the model's own recorded preprocessing.
 */
import * as fs from 'node:fs';
import { imageDataset } from '../data/images';
import { tableDataset } from '../data/table';
import { loadDataset, type Dataset } from '../eval';
import { decodeModel, graphFacts } from '../runtime/model-file';
import { OnnxModel, readModelBytes } from '../runtime/model';

export async function withModel<T>(file: string, work: (model: OnnxModel) => Promise<T>): Promise<T> {
  const model = await OnnxModel.load(file);
  try {
    return await work(model);
  } finally {
    await model.close();
  }
}

export const TABLE_FILE = /\.(csv|tsv|jsonl)(\.gz)?$/i;

/** The evaluation data: an .npz as it is, or a table / image folder encoded by the model's own preprocessing. */
export async function evaluationData(model: OnnxModel, data: string): Promise<Dataset> {
  const spec = model.info.preprocess;
  if (spec?.kind === 'table' && TABLE_FILE.test(data))
    return tableDataset(data, spec, model.info.labels, model.info.task, await tokenizerOf(model));
  if (spec?.kind === 'image' && isDirectoryOrIndex(data)) return imageDataset(data, spec, model.info.labels);
  return loadDataset(data);
}

/** The tokenizer.json (its text) a model with a text column carries (`distillery.tokenizer`; checked at load). */
async function tokenizerOf(model: OnnxModel): Promise<string | null> {
  if (!model.info.tokenizer) return null;
  const file = model.info.file;
  return graphFacts(decodeModel(await readModelBytes(file), file)).metadata.get('distillery.tokenizer') ?? null;
}

function isDirectoryOrIndex(file: string): boolean {
  return (fs.existsSync(file) && fs.statSync(file).isDirectory()) || /\.csv$/i.test(file);
}
