/** `distillery bench`: a model's batch-1 latency and its throughput per batch size. */
import { InvalidArgumentError, type Command } from 'commander';
import { ConfigError } from '../../config/errors';
import { readTableFile } from '../../data/table';
import { plainTable } from '../../experiment';
import { benchmark, type BenchmarkOptions } from '../../eval';
import { TABLE_FILE, withModel } from '../model-data';
import { EXIT, integer, out, type Settle } from '../shared';

async function benchCommand(
  file: string,
  options: { json?: boolean; batch?: number[]; data?: string },
): Promise<number> {
  const report = await withModel(file, async (model) => {
    const timing: BenchmarkOptions = options.batch ? { batchSizes: options.batch } : {};
    if (options.data === undefined) {
      if (model.info.tokenizer !== null) {
        throw new ConfigError([
          {
            path: '--data',
            message: `${model.info.name} is a text model: give the texts to time it on (a .csv, .tsv or .jsonl file with its ${model.info.tokenizer.column} column), since tokenizing is part of its cost`,
          },
        ]);
      }
      return benchmark(model, timing);
    }
    const spec = model.info.preprocess;
    const rows = await readTableFile(options.data, spec?.kind === 'table' ? spec : undefined);
    return benchmark(model, { ...timing, samples: rows });
  });
  if (options.json) {
    out(JSON.stringify(report, null, 2));
    return EXIT.ok;
  }
  out(
    `${report.model}: batch-1 latency p50 ${report.latency.p50Ms.toFixed(3)} ms, p99 ${report.latency.p99Ms.toFixed(3)} ms`,
  );
  out(
    plainTable([
      ['batch', 'ms/batch', 'rows/s'],
      ...report.throughput.map((t) => [
        String(t.batchSize),
        t.msPerBatch.toFixed(3),
        Math.round(t.rowsPerSecond).toString(),
      ]),
    ]),
  );
  return EXIT.ok;
}

/** Adds `distillery bench` to the program. */
export function registerBench(program: Command, set: Settle): void {
  program
    .command('bench')
    .description('measure latency (batch 1 p50/p99) and throughput of an ONNX model')
    .argument('<model>', '.onnx file')
    .option('--batch <sizes>', 'comma-separated batch sizes (default 1,32,256)', (value) =>
      value.split(',').map(integer),
    )
    .option(
      '--data <rows>',
      'time these rows (.csv, .tsv or .jsonl, raw as predict takes them; required for a text model), used in turn',
      (value: string) => {
        if (!TABLE_FILE.test(value)) throw new InvalidArgumentError('expected a .csv, .tsv or .jsonl file of rows');
        return value;
      },
    )
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof benchCommand>[1]) => set(benchCommand(model, options)));
}
