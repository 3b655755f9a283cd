/** `distillery quantize`: int8 / fp16 variants of a model, calibrated on raw data when given. */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError } from '../../config';
import { Engine } from '../../engine';
import type { Commands } from '../../engine/commands';
import { plainTable } from '../../experiment';
import { notSmallerNote } from '../../experiment/variants';
import { writeFileAtomic } from '../../io/files';
import { npyBytes } from '../../io/npy';
import { evaluationData, withModel } from '../model-data';
import { EXIT, ensurePython, out, type Settle } from '../shared';
import { makeAllOrNone, variantDestination } from '../variant-files';

const QUANTIZATION_METHODS = ['int8-dynamic', 'int8-static', 'fp16'] as const;
type QuantizationMethodName = (typeof QUANTIZATION_METHODS)[number];

function quantizationMethods(value: string): QuantizationMethodName[] {
  const methods = value.split(',').map((method) => method.trim());
  for (const method of methods) {
    if (!(QUANTIZATION_METHODS as readonly string[]).includes(method))
      throw new InvalidArgumentError(`expected ${QUANTIZATION_METHODS.join(', ')} (comma-separated), got ${method}`);
  }
  return methods as QuantizationMethodName[];
}

/**
 * `distillery quantize model.onnx --data calib`: int8 / fp16 variants next to the model (python/distillery/quantize.py).
 * Calibration rows are raw inputs: an .npz (x) or .npy as they are; a table file or an image folder is encoded
 * first by the model's recorded preprocessing, like `eval --data`, and handed over as an .npy.
 */
async function quantizeCommand(
  file: string,
  options: { data?: string; method?: QuantizationMethodName[]; out?: string; json?: boolean },
): Promise<number> {
  const methods = [
    ...new Set(options.method ?? (options.data ? QUANTIZATION_METHODS : (['int8-dynamic', 'fp16'] as const))),
  ];
  if (options.out && methods.length > 1)
    throw new ConfigError([{ path: 'out', message: '--out names one file: give one --method with it' }]);
  let data = options.data;
  let scratch: string | null = null;
  if (data !== undefined && !/\.(npz|npy)$/i.test(data)) {
    const dataset = await withModel(file, (model) => evaluationData(model, data as string));
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-calibration-'));
    data = path.join(scratch, 'calibration.npy');
    writeFileAtomic(data, npyBytes(Float32Array.from(dataset.x), [dataset.size, ...dataset.sampleShape]));
  }
  await ensurePython();
  const engine = await Engine.start();
  let results: Commands['quantize']['result'][];
  try {
    // Every variant asked for, or none: a failing one (e.g. int8-static's calibration) leaves no sibling behind.
    results = await makeAllOrNone(
      methods.map((method) => ({
        destination: options.out ? path.resolve(options.out) : variantDestination(file, method),
        make: (staging: string) =>
          engine.call('quantize', {
            model: path.resolve(file),
            method,
            ...(data ? { data: path.resolve(data) } : {}),
            path: staging,
          }),
      })),
    );
  } finally {
    await engine.close();
    if (scratch) fs.rmSync(scratch, { recursive: true, force: true });
  }
  if (options.json)
    out(
      JSON.stringify(
        results.map((r) => ({ ...r, notSmaller: r.sizeRatio >= 1 })),
        null,
        2,
      ),
    );
  else {
    out(
      plainTable([
        ['method', 'file', 'size', '× fp32', 'calibration rows'],
        ...results.map((r) => [
          r.method,
          path.relative(process.cwd(), r.path),
          `${(r.sizeBytes / 2 ** 20).toFixed(2)} MB`,
          `${r.sizeRatio.toFixed(3)}${r.sizeRatio >= 1 ? ' (not smaller)' : ''}`,
          r.calibrationRows === null ? '—' : String(r.calibrationRows),
        ]),
      ]),
    );
    for (const r of results) {
      const note = notSmallerNote(r.method, r.sizeRatio);
      if (note) out(`note: ${note}`);
    }
  }
  return EXIT.ok;
}

/** Adds `distillery quantize` to the program. */
export function registerQuantize(program: Command, set: Settle): void {
  program
    .command('quantize')
    .description(
      'make int8 (dynamic, or static QDQ calibrated on data) and fp16 variants of an ONNX model, each a separate .onnx next to it with the same metadata plus distillery.quantization',
    )
    .argument('<model>', '.onnx file')
    .option(
      '--data <file>',
      'calibration rows (raw inputs): .npz (x) or .npy; for a model trained on a table, a .csv/.tsv/.jsonl; on images, a folder or an index .csv. Required by int8-static',
    )
    .option(
      '--method <methods>',
      'comma-separated: int8-dynamic, int8-static, fp16 (default: all three with --data, else int8-dynamic,fp16)',
      quantizationMethods,
    )
    .option('-o, --out <file>', 'where to write the variant (one method only; default <model>.<method>.onnx)')
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof quantizeCommand>[1]) => set(quantizeCommand(model, options)));
}
