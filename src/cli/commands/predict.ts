/** `distillery predict`: a model's predictions for samples, table rows or images, raw as the user has them. */
import * as fs from 'node:fs';
import type { Command } from 'commander';
import { imageFiles } from '../../data/images';
import { readTableFile } from '../../data/table';
import { loadDataset, type Dataset } from '../../eval';
import type { OnnxModel } from '../../runtime/model';
import type { ModelInput } from '../../runtime/types';
import { TABLE_FILE, withModel } from '../model-data';
import { EXIT, out, type Settle } from '../shared';

/** The inputs of `predict`: samples from .json/.npy/.npz, raw rows from a table file, encoded images from an image file or folder. */
async function readInputs(
  file: string,
  model: OnnxModel,
): Promise<{ rows: ModelInput[]; sampleShape: readonly number[] | null }> {
  const spec = model.info.preprocess;
  // Only the model's own columns: a labelled file (or one with extra columns) can be scored as it is.
  if (TABLE_FILE.test(file))
    return { rows: [...(await readTableFile(file, spec?.kind === 'table' ? spec : undefined))], sampleShape: null };
  if (IMAGE_FILE.test(file) || (fs.existsSync(file) && fs.statSync(file).isDirectory())) {
    const files = await imageFiles(file);
    return { rows: files.map((image) => fs.readFileSync(image)), sampleShape: null };
  }
  if (/\.json$/i.test(file)) {
    const value = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    const rows: unknown[] = Array.isArray(value) && value.length > 0 && Array.isArray(value[0]) ? value : [value];
    return { rows: rows.map((row) => Float32Array.from(flatten(row))), sampleShape: null };
  }
  const dataset: Dataset = await loadDataset(file);
  const width = dataset.sampleShape.reduce((a, b) => a * b, 1);
  const rows: Float32Array[] = [];
  for (let i = 0; i < dataset.size; i++) rows.push(Float32Array.from(dataset.x.subarray(i * width, (i + 1) * width)));
  return { rows, sampleShape: dataset.sampleShape };
}

const IMAGE_FILE = /\.(png|jpe?g|webp)$/i;

async function predictCommand(file: string, input: string, options: { json?: boolean }): Promise<number> {
  const predictions = await withModel(file, async (model) => model.predictBatch((await readInputs(input, model)).rows));
  if (options.json) {
    out(JSON.stringify(predictions, null, 2));
    return EXIT.ok;
  }
  predictions.forEach((prediction, index) => {
    if ('label' in prediction) {
      const confidence = prediction.probabilities[prediction.index] ?? 0;
      out(`${index}: ${prediction.label} (${(100 * confidence).toFixed(1)}%)`);
    } else {
      out(`${index}: ${Array.from(prediction.values, (v) => v.toPrecision(6)).join(', ')}`);
    }
  });
  return EXIT.ok;
}

/** Nested arrays of numbers (one sample, as JSON) → its values in order. */
function flatten(value: unknown): number[] {
  return Array.isArray(value) ? value.flatMap(flatten) : [Number(value)];
}

/** Adds `distillery predict` to the program. */
export function registerPredict(program: Command, set: Settle): void {
  program
    .command('predict')
    .description(
      'predict with an ONNX model: samples from .json (one sample or an array of samples), .npy or .npz (x); ' +
        'for a model trained on a table, rows from .csv/.tsv/.jsonl; for one trained on images, an image file or a folder of them',
    )
    .argument('<model>', '.onnx file')
    .argument(
      '<input>',
      "input file or folder (raw values: the model's recorded preprocessing and normalisation are applied)",
    )
    .option('--json', 'print JSON')
    .action((model: string, input: string, options: Parameters<typeof predictCommand>[2]) =>
      set(predictCommand(model, input, options)),
    );
}
