/**
 * Latency and throughput of a model as callers see them: timings include
 * validation, normalisation, tokenization and post-processing, not just the onnxruntime run.
 */
import { performance } from 'node:perf_hooks';
import { describeValue, InputValidationError } from '../core/errors';
import type { Batch, ModelInput, Predictor } from '../runtime/types';

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
  /**
   * Inputs as `predict` takes them (texts, table rows, samples), used in turn: the latency runs predict them one after
   * another, and each batch is the next `batchSize` of them (wrapping around). Required for a text model (its info
   * has a `tokenizer`): tokenizing is part of its cost, and no synthetic text would say what real ones cost. Without
   * samples, any other model is fed deterministic synthetic values in [0, 1).
   */
  readonly samples?: readonly ModelInput[];
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
 * Measures a model as a caller sees it (validation, normalisation, tokenization and post-processing included):
 * single-row latency percentiles, then throughput at each batch size, on `options.samples` or synthetic inputs.
 * @param model - an {@link OnnxModel}, a {@link PredictionPool} or any {@link Predictor}
 * @param options - batch sizes, warm-up runs, iterations, the minimum time per batch size, and the inputs
 * @returns the latency and the throughput per batch size
 * @throws {@link InputValidationError} when an option is not a valid count, `samples` is empty, or a text model has
 * no `samples`
 */
export async function benchmark(model: Predictor, options: BenchmarkOptions = {}): Promise<BenchmarkReport> {
  const batchSizes = options.batchSizes ?? [1, 32, 256];
  const warmup = count(options.warmup ?? 20, 'options.warmup', 0);
  const iterations = count(options.iterations ?? 200, 'options.iterations', 1);
  const minTimeMs = count(options.minTimeMs ?? 300, 'options.minTimeMs', 0);
  batchSizes.forEach((size, i) => count(size, `options.batchSizes[${i}]`, 1));
  if (batchSizes.length === 0)
    throw new InputValidationError('options.batchSizes', 'at least one batch size', 'an empty array');

  const samples = options.samples;
  if (samples !== undefined && (!Array.isArray(samples) || samples.length === 0)) {
    throw new InputValidationError('options.samples', 'a non-empty array of inputs', describeValue(samples));
  }
  if (samples === undefined && model.info.tokenizer !== null) {
    throw new InputValidationError(
      'options.samples',
      `texts or rows to time (${model.info.name} is a text model: tokenizing is part of its cost, and synthetic values would be empty texts)`,
      'undefined',
    );
  }

  const throughput: ThroughputResult[] = [];
  if (samples !== undefined) {
    const latency = await measureLatency(model, (i) => samples[i % samples.length] as ModelInput, warmup, iterations);
    for (const batchSize of batchSizes) {
      const batches = cyclicBatches(samples, batchSize);
      throughput.push(
        await measureThroughput(
          model,
          (i) => batches[i % batches.length] as ModelInput[],
          batchSize,
          warmup,
          minTimeMs,
        ),
      );
    }
    return { model: model.info.name, latency, throughput };
  }
  const features = model.info.input.shape.reduce((total, size) => total * size, 1);
  const rows = syntheticRows(Math.max(...batchSizes), features);
  const row = rows.subarray(0, features);
  const latency = await measureLatency(model, () => row, warmup, iterations);
  for (const batchSize of batchSizes) {
    const batch = rows.subarray(0, batchSize * features);
    throughput.push(await measureThroughput(model, () => batch, batchSize, warmup, minTimeMs));
  }
  return { model: model.info.name, latency, throughput };
}

/**
 * The samples cut into batches of `size`, in order; the last batch (the only one, when there are fewer samples than
 * `size`) is filled up from the first samples again.
 */
function cyclicBatches(samples: readonly ModelInput[], size: number): ModelInput[][] {
  const batches: ModelInput[][] = [];
  for (let start = 0; start < samples.length; start += size) {
    batches.push(Array.from({ length: size }, (_, j) => samples[(start + j) % samples.length] as ModelInput));
  }
  return batches;
}

/** Nearest-rank percentile of sorted values. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** `input(i)`: the i-th input to predict (warm-up runs and timed runs are counted separately, from 0). */
async function measureLatency(
  model: Predictor,
  input: (i: number) => ModelInput,
  warmup: number,
  iterations: number,
): Promise<LatencyStats> {
  for (let i = 0; i < warmup; i++) await model.predict(input(i));
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const row = input(i);
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

/** `batch(i)`: the i-th batch to predict (warm-up runs and timed runs are counted separately, from 0). */
async function measureThroughput(
  model: Predictor,
  batch: (i: number) => Batch,
  batchSize: number,
  warmup: number,
  minTimeMs: number,
): Promise<ThroughputResult> {
  for (let i = 0; i < warmup; i++) await model.predictBatch(batch(i));
  let runs = 0;
  const start = performance.now();
  let elapsed = 0;
  // At least 3 runs, so that one slow run does not make the whole number.
  while (runs < 3 || elapsed < minTimeMs) {
    await model.predictBatch(batch(runs));
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
