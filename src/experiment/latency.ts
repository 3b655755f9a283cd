/** Latencies of several models measured side by side, for the report's and the variants' speed columns. */
import type { ExperimentConfig } from '../config/schema';
import { readTableFile } from '../data/table';
import { benchmark } from '../eval';
import type { OnnxModel } from '../runtime/model';
import type { ModelInput } from '../runtime/types';
import { required } from '../core/required';

export interface Latency {
  batch1P50Ms: number;
  batch1P99Ms: number;
  batch256RowsPerS: number;
}

/** Rows of data.test a run times its models on when one of them is a text model: as many as a batch holds. */
export const TIMED_TEST_ROWS = 256;

/**
 * What a run times a text model on: the first {@link TIMED_TEST_ROWS} rows of data.test, raw as a caller would send
 * them (read with data.test's own reading options), so that tokenization is in the timings. null when no model has a
 * tokenizer (the others are timed on synthetic values, as before) or data.test is not a table file.
 */
export async function timedRows(config: ExperimentConfig, models: readonly OnnxModel[]): Promise<ModelInput[] | null> {
  const text = models.find((model) => model.info.tokenizer !== null);
  const test = config.data.test;
  if (!text || test.type !== 'csv') return null;
  const spec = text.info.preprocess?.kind === 'table' ? text.info.preprocess : undefined;
  const limit = Math.min(test.limit ?? TIMED_TEST_ROWS, TIMED_TEST_ROWS);
  const { format, encoding, delimiter, offset } = test;
  const rows = await readTableFile(test.path, spec, { format, encoding, delimiter, offset, limit });
  return rows.length > 0 ? rows : null;
}

/**
 * Latency measured in interleaved rounds — teacher, student 1, student 2, …, again — and the median
 * per model taken: on a shared machine, models timed one after another see different loads, and
 * their ratios (the speed-up column) come out wrong. With `rows` (see {@link timedRows}), every model that takes
 * table rows is timed on them, tokenization included; a model that does not is timed on synthetic values.
 */
export async function latenciesSideBySide(
  models: OnnxModel[],
  rows: readonly ModelInput[] | null = null,
  rounds = 5,
): Promise<Latency[]> {
  const samples = models.map((model) => ({ model, p50: [] as number[], p99: [] as number[], rows: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    for (const sample of samples) {
      const takesRows = sample.model.info.tokenizer !== null || sample.model.info.preprocess?.kind === 'table';
      const timing = await benchmark(sample.model, {
        batchSizes: [256],
        iterations: 60,
        minTimeMs: 60,
        warmup: 5,
        ...(rows && takesRows ? { samples: rows } : {}),
      });
      sample.p50.push(timing.latency.p50Ms);
      sample.p99.push(timing.latency.p99Ms);
      sample.rows.push(required(timing.throughput[0], 'the throughput at batch size 256').rowsPerSecond);
    }
  }
  const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] ?? NaN;
  return samples.map((s) => ({
    batch1P50Ms: median(s.p50),
    batch1P99Ms: median(s.p99),
    batch256RowsPerS: median(s.rows),
  }));
}
