/** `distillery bench`: a model's batch-1 latency and its throughput per batch size. */
import type { Command } from 'commander';
import { plainTable } from '../../experiment';
import { benchmark } from '../../eval';
import { withModel } from '../model-data';
import { EXIT, integer, out, type Settle } from '../shared';

async function benchCommand(file: string, options: { json?: boolean; batch?: number[] }): Promise<number> {
  const report = await withModel(file, (model) => benchmark(model, options.batch ? { batchSizes: options.batch } : {}));
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
    .option('--json', 'print JSON')
    .action((model: string, options: Parameters<typeof benchCommand>[1]) => set(benchCommand(model, options)));
}
