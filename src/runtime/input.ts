/**
 * Turning a caller's samples into the float32 rows a session runs on:
 * validation (a plain loop, and zod for the precise error when an array fails
 * it), flattening and the recorded normalisation, in one pass.
 */
import { z } from 'zod';
import { describeValue, InputValidationError } from '../core/errors';
import type { Normalization } from './types';

export interface PreparedRows {
  /**
   * From the preparer's allocator: freshly allocated by default, so the caller
   * may transfer its buffer to a worker.
   */
  readonly data: Float32Array<ArrayBuffer>;
  readonly rows: number;
  /**
   * true: `data` is the caller's own Float32Array, used as it is (valid, nothing to normalise, `borrow`
   * asked for): it must not be kept, reused or transferred.
   */
  readonly borrowed?: boolean;
}

const TYPED_ARRAY_NAMES = 'a Float32Array, Float64Array or Uint8Array';

type AcceptedTypedArray = Float32Array | Float64Array | Uint8Array;

function isAcceptedTypedArray(value: unknown): value is AcceptedTypedArray {
  return value instanceof Float32Array || value instanceof Float64Array || value instanceof Uint8Array;
}

export function product(shape: readonly number[]): number {
  return shape.reduce((total, size) => total * size, 1);
}

export function formatShape(shape: readonly (number | null)[]): string {
  return `[${shape.map((size) => size ?? '?').join(', ')}]`;
}

/**
 * Why `normalization` does not fit `sampleShape`, or null when it does. Lengths
 * may be 1 (every feature), C (per channel of [C, ...]) or the feature count.
 */
export function normalizationProblem(normalization: Normalization, sampleShape: readonly number[]): string | null {
  const { mean, std } = normalization;
  if (mean.length !== std.length) return `mean has ${mean.length} values but std has ${std.length}`;
  const allowed = new Set([1, sampleShape[0] ?? 1, product(sampleShape)]);
  if (!allowed.has(mean.length)) {
    return `${mean.length} values do not fit sample shape ${formatShape(sampleShape)} (expected ${[...allowed].join(', ')})`;
  }
  if (std.some((value) => value === 0 || !Number.isFinite(value)) || mean.some((value) => !Number.isFinite(value))) {
    return 'mean and std must be finite and std non-zero';
  }
  return null;
}

/** mean/std repeated to one value per feature, so normalising is a single indexed loop. */
function expandNormalization(
  normalization: Normalization,
  sampleShape: readonly number[],
): { mean: Float64Array; std: Float64Array } {
  const features = product(sampleShape);
  const perValue = features / normalization.mean.length; // 1, or the size of one channel
  const mean = new Float64Array(features);
  const std = new Float64Array(features);
  for (let i = 0; i < features; i++) {
    const source = Math.floor(i / perValue);
    mean[i] = normalization.mean[source] ?? 0;
    std[i] = normalization.std[source] ?? 1;
  }
  return { mean, std };
}

/**
 * The normalisation as the hot loops use it, built once per model:
 * `(x - mean) / std` in float64, rounded once to float32 on the store (what
 * the Python side does too). Consecutive features that share one mean/std (the
 * whole sample for a scalar normalisation, one channel's plane for a
 * per-channel one) form a run, so the inner loop keeps both in registers;
 * per-feature values use the expanded arrays directly.
 */
interface NormalizationPlan {
  /** One value per feature. */
  readonly mean: Float64Array;
  readonly std: Float64Array;
  /** Runs of equal (mean, std): features `runStart[k]` .. `runStart[k + 1] - 1` use `runMean[k]`, `runStd[k]`. */
  readonly runStart: Int32Array;
  readonly runMean: Float64Array;
  readonly runStd: Float64Array;
  /** Whether runs are long enough to beat the per-feature loop. */
  readonly useRuns: boolean;
}

function normalizationPlan(normalization: Normalization, sampleShape: readonly number[]): NormalizationPlan {
  const { mean, std } = expandNormalization(normalization, sampleShape);
  const starts: number[] = [];
  for (let i = 0; i < mean.length; i++) {
    if (i === 0 || !Object.is(mean[i], mean[i - 1]) || !Object.is(std[i], std[i - 1])) starts.push(i);
  }
  const runs = starts.length;
  const runStart = new Int32Array(runs + 1);
  const runMean = new Float64Array(runs);
  const runStd = new Float64Array(runs);
  for (let k = 0; k < runs; k++) {
    const start = starts[k] as number;
    runStart[k] = start;
    runMean[k] = mean[start] as number;
    runStd[k] = std[start] as number;
  }
  runStart[runs] = mean.length;
  return { mean, std, runStart, runMean, runStd, useRuns: mean.length >= 8 * runs };
}

// The hot loops. Each validates and normalises in one pass over local typed
// arrays, with no callback and no modulo per value. `v - v` is +0 for every
// finite v and NaN for NaN and ±Infinity, so `check` stays 0 exactly when all
// values are finite; the caller looks for the first bad index only when it is not.

/**
 * Whether every value is finite (a Uint8Array always is). Four independent sums let the CPU overlap the additions
 * (one running sum is a chain of dependent adds, about twice as slow on a large batch — measured on a 200k-value
 * batch: 143 against 258 µs).
 *
 * A Float32Array is checked by its plain sum, in float64: |v| < 3.5e38 for every finite float32, so no sum of fewer
 * than 2^32 of them comes near float64's 1.8e308, and the sum is finite exactly when every value is (a NaN or an
 * infinity makes it NaN or infinite). One add per value instead of a subtract and an add: 69 against 82 µs on a
 * 256 × 784 batch (Zen 5). Float64 values can overflow a sum, so they keep `v - v`, which is +0 for every finite v
 * and NaN otherwise. The two loops look alike but stay apart on purpose: one loop shared by both element types runs
 * the float32 case at 109 against 71 µs once it has seen a Float64Array (V8's element loads turn polymorphic).
 */
function allFinite(values: AcceptedTypedArray): boolean {
  if (values instanceof Uint8Array) return true;
  return values instanceof Float32Array ? float32SumIsFinite(values) : allDifferencesZero(values);
}

function float32SumIsFinite(values: Float32Array): boolean {
  const n = values.length;
  let s0 = 0;
  let s1 = 0;
  let s2 = 0;
  let s3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    s0 += values[i] as number;
    s1 += values[i + 1] as number;
    s2 += values[i + 2] as number;
    s3 += values[i + 3] as number;
  }
  for (; i < n; i++) s0 += values[i] as number;
  return Number.isFinite(s0 + s1 + s2 + s3);
}

function allDifferencesZero(values: Float64Array): boolean {
  const n = values.length;
  let c0 = 0;
  let c1 = 0;
  let c2 = 0;
  let c3 = 0;
  let i = 0;
  for (; i + 3 < n; i += 4) {
    const v0 = values[i] as number;
    const v1 = values[i + 1] as number;
    const v2 = values[i + 2] as number;
    const v3 = values[i + 3] as number;
    c0 += v0 - v0;
    c1 += v1 - v1;
    c2 += v2 - v2;
    c3 += v3 - v3;
  }
  for (; i < n; i++) {
    const v = values[i] as number;
    c0 += v - v;
  }
  return c0 + c1 + c2 + c3 === 0;
}

/** Index of the first NaN or ±Infinity; only called once `allFinite` said there is one. */
function firstNonFinite(values: AcceptedTypedArray): number {
  for (let i = 0, n = values.length; i < n; i++) if (!Number.isFinite(values[i])) return i;
  return -1;
}

/** Every value with one mean/std (a scalar normalisation): one flat loop. Returns whether all values were finite. */
function normalizeScalar(
  values: AcceptedTypedArray,
  out: Float32Array,
  offset: number,
  mean: number,
  std: number,
): boolean {
  let check = 0;
  const n = values.length;
  for (let i = 0; i < n; i++) {
    const v = values[i] as number;
    check += v - v;
    out[offset + i] = (v - mean) / std;
  }
  return check === 0;
}

/** `rows` samples of `runStart[runs]` features, normalised run by run. Returns whether all values were finite. */
function normalizeRuns(
  values: AcceptedTypedArray,
  out: Float32Array,
  offset: number,
  rows: number,
  plan: NormalizationPlan,
): boolean {
  const { runStart, runMean, runStd } = plan;
  const runs = runMean.length;
  if (runs === 1) return normalizeScalar(values, out, offset, runMean[0] as number, runStd[0] as number);
  const features = runStart[runs] as number;
  let check = 0;
  for (let row = 0, base = 0; row < rows; row++, base += features) {
    for (let k = 0; k < runs; k++) {
      const mean = runMean[k] as number;
      const std = runStd[k] as number;
      const end = base + (runStart[k + 1] as number);
      for (let i = base + (runStart[k] as number); i < end; i++) {
        const v = values[i] as number;
        check += v - v;
        out[offset + i] = (v - mean) / std;
      }
    }
  }
  return check === 0;
}

/** `rows` samples, one mean/std per feature. Returns whether all values were finite. */
function normalizeFeatures(
  values: AcceptedTypedArray,
  out: Float32Array,
  offset: number,
  rows: number,
  plan: NormalizationPlan,
): boolean {
  const { mean, std } = plan;
  const features = mean.length;
  let check = 0;
  for (let row = 0, base = 0; row < rows; row++, base += features) {
    for (let f = 0; f < features; f++) {
      const v = values[base + f] as number;
      check += v - v;
      out[offset + base + f] = (v - (mean[f] as number)) / (std[f] as number);
    }
  }
  return check === 0;
}

/** zod schema for one sample nested to match `shape`: arrays of exact length down to finite numbers. */
function nestedSchema(shape: readonly number[]): z.ZodType {
  return shape.reduceRight<z.ZodType>((inner, size) => z.array(inner).length(size), z.number());
}

/**
 * Whether `value` certainly passes the zod schema of `shape` (arrays of exact
 * lengths down to finite numbers). A plain loop: zod runs only when this says
 * no, to produce its precise error (or to accept what this loop was unsure of).
 */
function fitsShape(value: unknown, shape: readonly number[], axis: number): boolean {
  if (!Array.isArray(value) || value.length !== shape[axis]) return false;
  const n = value.length;
  if (axis === shape.length - 1) {
    for (let i = 0; i < n; i++) {
      const v: unknown = value[i];
      if (typeof v !== 'number' || v - v !== 0) return false;
    }
    return true;
  }
  for (let i = 0; i < n; i++) if (!fitsShape(value[i], shape, axis + 1)) return false;
  return true;
}

/**
 * Makes the buffer that prepared rows are written to: exactly `length` values,
 * any contents (every value is overwritten). Only the typed-array paths and
 * `sample` use it; an array of samples always gets a fresh, zeroed buffer.
 */
export type RowAllocator = (length: number) => Float32Array<ArrayBuffer>;

const allocateRows: RowAllocator = (length) => new Float32Array(length);

export class InputPreparer {
  readonly features: number;
  private readonly flatShape: readonly number[];
  private readonly flatSchema: z.ZodType;
  private readonly nestedSchema: z.ZodType;
  private readonly normalization: NormalizationPlan | null;
  private readonly shapeText: string;

  constructor(
    readonly sampleShape: readonly number[],
    normalization: Normalization | null,
  ) {
    this.features = product(sampleShape);
    this.flatShape = [this.features];
    // z.number() rejects NaN and ±Infinity, which is exactly what we want.
    this.flatSchema = z.array(z.number()).length(this.features);
    this.nestedSchema = nestedSchema(sampleShape);
    this.normalization = normalization ? normalizationPlan(normalization, sampleShape) : null;
    this.shapeText =
      sampleShape.length > 1
        ? `${this.features} numbers, nested arrays of shape ${formatShape(sampleShape)}, or ${TYPED_ARRAY_NAMES}`
        : `${this.features} numbers or ${TYPED_ARRAY_NAMES}`;
  }

  /** One sample → one normalised row. */
  sample(sample: unknown, field = 'sample', allocate: RowAllocator = allocateRows): Float32Array<ArrayBuffer> {
    const data = allocate(this.features);
    this.writeSample(sample, data, 0, field);
    return data;
  }

  /**
   * One sample as prepared rows. With `borrow`, a valid Float32Array sample that needs no normalisation is
   * used as it is (validated, not copied): OnnxModel runs it directly; the pool, which transfers buffers, does not borrow.
   */
  one(sample: unknown, field = 'sample', allocate: RowAllocator = allocateRows, borrow = false): PreparedRows {
    if (borrow && this.normalization === null && sample instanceof Float32Array && sample.length === this.features) {
      this.checkFinite(sample, field);
      return { data: sample as Float32Array<ArrayBuffer>, rows: 1, borrowed: true };
    }
    return { data: this.sample(sample, field, allocate), rows: 1 };
  }

  /** Several samples (an array of samples, or one flat typed array) → normalised rows. `borrow`: as for `one`. */
  batch(samples: unknown, field = 'samples', allocate: RowAllocator = allocateRows, borrow = false): PreparedRows {
    if (isAcceptedTypedArray(samples)) {
      if (
        borrow &&
        this.normalization === null &&
        samples instanceof Float32Array &&
        samples.length > 0 &&
        samples.length % this.features === 0
      ) {
        this.checkFinite(samples, field);
        return { data: samples as Float32Array<ArrayBuffer>, rows: samples.length / this.features, borrowed: true };
      }
      return this.flatBatch(samples, field, allocate);
    }
    if (!Array.isArray(samples)) {
      throw new InputValidationError(
        field,
        `an array of samples or ${TYPED_ARRAY_NAMES} of N × ${this.features} numbers`,
        describeValue(samples),
      );
    }
    if (samples.length === 0) throw new InputValidationError(field, 'at least one sample', 'an empty batch');
    const features = this.features;
    // Fresh and zeroed, not `allocate`: a hole in a sparse batch is skipped by
    // forEach (not an error) and stays a row of zeros, as it always has.
    const data = new Float32Array(samples.length * features);
    samples.forEach((sample: unknown, row) => this.writeSample(sample, data, row * features, `${field}[${row}]`));
    return { data, rows: samples.length };
  }

  private flatBatch(values: AcceptedTypedArray, field: string, allocate: RowAllocator): PreparedRows {
    if (values.length === 0) throw new InputValidationError(field, 'at least one sample', 'an empty batch');
    if (values.length % this.features !== 0) {
      throw new InputValidationError(
        field,
        `a multiple of ${this.features} values (N samples × ${this.features} features)`,
        describeValue(values),
      );
    }
    const data = allocate(values.length);
    this.copyTypedArray(values, data, 0, field);
    return { data, rows: values.length / this.features };
  }

  /** Throws naming the first NaN or ±Infinity. */
  private checkFinite(values: Float32Array, field: string): void {
    if (allFinite(values)) return;
    const bad = firstNonFinite(values);
    throw new InputValidationError(`${field}[${bad}]`, 'a finite number', describeValue(values[bad]));
  }

  private writeSample(sample: unknown, out: Float32Array, offset: number, field: string): void {
    if (isAcceptedTypedArray(sample)) {
      if (sample.length !== this.features) throw new InputValidationError(field, this.shapeText, describeValue(sample));
      this.copyTypedArray(sample, out, offset, field);
      return;
    }
    if (!Array.isArray(sample)) throw new InputValidationError(field, this.shapeText, describeValue(sample));
    // A flat array starts with a number; a nested one with an array. Choosing the
    // schema up front gives one precise error instead of a union's two.
    const nested = this.sampleShape.length > 1 && Array.isArray(sample[0]);
    if (!fitsShape(sample, nested ? this.sampleShape : this.flatShape, 0)) {
      const parsed = (nested ? this.nestedSchema : this.flatSchema).safeParse(sample, { reportInput: true });
      if (!parsed.success)
        throw issueToError(outermost(parsed.error.issues), field, nested ? this.sampleShape : [this.features]);
    }
    this.writeNumbers(sample, out, offset);
  }

  /**
   * Validates (every value finite) and writes `values` (whole samples) at
   * `offset`, normalised, in one pass. The error names the first bad index.
   */
  private copyTypedArray(values: AcceptedTypedArray, out: Float32Array, offset: number, field: string): void {
    const norm = this.normalization;
    let finite: boolean;
    if (norm === null) {
      finite = values instanceof Uint8Array || allFinite(values);
      if (finite) out.set(values, offset);
    } else {
      const rows = values.length / this.features;
      finite = norm.useRuns
        ? normalizeRuns(values, out, offset, rows, norm)
        : normalizeFeatures(values, out, offset, rows, norm);
    }
    if (!finite) {
      const bad = firstNonFinite(values);
      throw new InputValidationError(`${field}[${bad}]`, 'a finite number', describeValue(values[bad]));
    }
  }

  /** Writes already-validated (possibly nested) numbers in row-major order; returns the next offset. */
  private writeNumbers(values: NestedNumbersLike, out: Float32Array, offset: number, start = offset): number {
    const norm = this.normalization;
    let position = offset;
    for (let i = 0, n = values.length; i < n; i++) {
      const value = values[i] as number | NestedNumbersLike;
      if (typeof value === 'number') {
        const feature = position - start;
        out[position] = norm ? (value - (norm.mean[feature] as number)) / (norm.std[feature] as number) : value;
        position += 1;
      } else {
        position = this.writeNumbers(value, out, position, start);
      }
    }
    return position;
  }
}

type NestedNumbersLike = readonly (number | NestedNumbersLike)[];

/** The issue closest to the root: a wrong outer length explains the errors inside it. */
function outermost(issues: readonly z.core.$ZodIssue[]): z.core.$ZodIssue | undefined {
  return issues.reduce<z.core.$ZodIssue | undefined>(
    (best, issue) => (best === undefined || issue.path.length < best.path.length ? issue : best),
    undefined,
  );
}

function issueToError(
  issue: z.core.$ZodIssue | undefined,
  field: string,
  shape: readonly number[],
): InputValidationError {
  if (issue === undefined)
    return new InputValidationError(field, `a sample of shape ${formatShape(shape)}`, 'something else');
  const path = field + issue.path.map((key) => `[${String(key)}]`).join('');
  const received = describeValue(issue.input);
  if (issue.code === 'invalid_type') {
    const expected =
      issue.expected === 'number' ? 'a finite number' : `${issue.expected === 'array' ? 'an' : 'a'} ${issue.expected}`;
    return new InputValidationError(path, expected, received);
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    // The path's depth says which axis of the shape this array is.
    const size = shape[issue.path.length] ?? shape[shape.length - 1];
    const innermost = issue.path.length >= shape.length - 1;
    return new InputValidationError(
      path,
      `an array of exactly ${String(size)} ${innermost ? 'numbers' : 'arrays'}`,
      received,
    );
  }
  return new InputValidationError(path, issue.message, received);
}
