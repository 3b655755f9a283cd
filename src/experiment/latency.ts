/** Latencies of several models measured side by side, for the report's and the variants' speed columns. */
import { benchmark } from '../eval';
import type { OnnxModel } from '../runtime/model';
import { required } from '../core/required';

export interface Latency {
  batch1P50Ms: number;
  batch1P99Ms: number;
  batch256RowsPerS: number;
}

/**
 * Latency measured in interleaved rounds — teacher, student 1, student 2, …, again — and the median
 * per model taken: on a shared machine, models timed one after another see different loads, and
 * their ratios (the speed-up column) come out wrong.
 */
export async function latenciesSideBySide(models: OnnxModel[], rounds = 5): Promise<Latency[]> {
  const samples = models.map((model) => ({ model, p50: [] as number[], p99: [] as number[], rows: [] as number[] }));
  for (let round = 0; round < rounds; round++) {
    for (const sample of samples) {
      const timing = await benchmark(sample.model, { batchSizes: [256], iterations: 60, minTimeMs: 60, warmup: 5 });
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
