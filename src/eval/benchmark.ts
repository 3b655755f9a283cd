/**
 * Latency and throughput of a model as callers see them: timings include
 * validation, normalisation and post-processing, not just the onnxruntime run.
 */
import { performance } from 'node:perf_hooks';
import { describeValue, InputValidationError } from '../core/errors';
import type { Predictor } from '../runtime/types';

/** Options of {@link benchmark}. */
export interface BenchmarkOptions {
  /** Batch sizes for the throughput runs (default [1, 32, 256]). */
  readonly batchSizes?: readonly number[];
  /** Untimed runs before each measurement, to settle caches and allocators (default 20). */
  readonly warmup?: number;
  /** Timed single-row predictions for the latency percentiles (default 200). */
  readonly iterations?: number;
  /** Minimum time spent measuring each batch size, in ms (default 300). */
  readonly minTimeMs?: number;
}

/** Latency of single-row predictions, in milliseconds. */
export interface LatencyStats {
  /** Timed predictions. */
  readonly runs: number;
  /** Median latency. */
  readonly p50Ms: number;
  /** 99th-percentile latency. */
  readonly p99Ms: number;
  /** Mean latency. */
  readonly meanMs: number;
}

/** Throughput at one batch size. */
export interface ThroughputResult {
  /** Rows per `predictBatch` call. */
  readonly batchSize: number;
  /** Timed `predictBatch` calls. */
  readonly runs: number;
  /** Mean time per call, in milliseconds. */
  readonly msPerBatch: number;
  /** Rows predicted per second at this batch size. */
  readonly rowsPerSecond: number;
}

/** What {@link benchmark} reports. */
export interface BenchmarkReport {
  /** The model's name ({@link ModelInfo.name}). */
  readonly model: string;
  /** One row per predict call. */
  readonly latency: LatencyStats;
  /** One entry per batch size, in the order of `options.batchSizes`. */
  readonly throughput: ThroughputResult[];
}

/**
 * Measures a model as a caller sees it (validation, normalisation and post-processing included): single-row latency
 * percentiles, then throughput at each batch size, on synthetic inputs.
 * @param model - an {@link OnnxModel}, a {@link PredictionPool} or any {@link Predictor}
 * @param options - batch sizes, warm-up runs, iterations and the minimum time per batch size
 * @returns the latency and the throughput per batch size
 * @throws {@link InputValidationError} when an option is not a valid count
 */
export async function benchmark(model: Predictor, options: BenchmarkOptions = {}): Promise<BenchmarkReport> {
  const batchSizes = options.batchSizes ?? [1, 32, 256];
  const warmup = count(options.warmup ?? 20, 'options.warmup', 0);
  const iterations = count(options.iterations ?? 200, 'options.iterations', 1);
  const minTimeMs = count(options.minTimeMs ?? 300, 'options.minTimeMs', 0);
  batchSizes.forEach((size, i) => count(size, `options.batchSizes[${i}]`, 1));
  if (batchSizes.length === 0)
    throw new InputValidationError('options.batchSizes', 'at least one batch size', 'an empty array');

  const features = model.info.input.shape.reduce((total, size) => total * size, 1);
  const rows = syntheticRows(Math.max(...batchSizes), features);
  const latency = await measureLatency(model, rows.subarray(0, features), warmup, iterations);
  const throughput: ThroughputResult[] = [];
  for (const batchSize of batchSizes) {
    throughput.push(
      await measureThroughput(model, rows.subarray(0, batchSize * features), batchSize, warmup, minTimeMs),
    );
  }
  return { model: model.info.name, latency, throughput };
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

async function measureLatency(
  model: Predictor,
  row: Float32Array,
  warmup: number,
  iterations: number,
): Promise<LatencyStats> {
  for (let i = 0; i < warmup; i++) await model.predict(row);
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await model.predict(row);
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return {
    runs: iterations,
    p50Ms: percentile(times, 50),
    p99Ms: percentile(times, 99),
    meanMs: times.reduce((sum, time) => sum + time, 0) / times.length,
  };
}

async function measureThroughput(
  model: Predictor,
  batch: Float32Array,
  batchSize: number,
  warmup: number,
  minTimeMs: number,
): Promise<ThroughputResult> {
  for (let i = 0; i < warmup; i++) await model.predictBatch(batch);
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  // At least 3 runs, so that one slow run does not make the whole number.
  while (runs < 3 || elapsed < minTimeMs) {
    await model.predictBatch(batch);
    runs += 1;
    elapsed = performance.now() - start;
  }
  return { batchSize, runs, msPerBatch: elapsed / runs, rowsPerSecond: (runs * batchSize) / (elapsed / 1000) };
}

/** Deterministic values in [0, 1): timings should not depend on Math.random. */
function syntheticRows(rows: number, features: number): Float32Array {
  const data = new Float32Array(rows * features);
  let state = 0x2545f491;
  for (let i = 0; i < data.length; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    data[i] = state / 2 ** 32;
  }
  return data;
}

function count(value: number, field: string, minimum: number): number {
  if (!Number.isInteger(value) || value < minimum) {
    throw new InputValidationError(field, `an integer ≥ ${minimum}`, describeValue(value));
  }
  return value;
}
