/**
 * Turning a caller's samples into the float32 rows a session runs on:
 * validation (zod for arrays, a plain loop for typed arrays), flattening and
 * the recorded normalisation, in one pass.
 */
import { z } from 'zod';
import { describeValue, InputValidationError } from './errors';
import type { Normalization } from './types';

export interface PreparedRows {
  /** Freshly allocated: the caller may transfer its buffer to a worker. */
  readonly data: Float32Array<ArrayBuffer>;
  readonly rows: number;
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
function expandNormalization(normalization: Normalization, sampleShape: readonly number[]): { mean: Float64Array; std: Float64Array } {
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

/** zod schema for one sample nested to match `shape`: arrays of exact length down to finite numbers. */
function nestedSchema(shape: readonly number[]): z.ZodType {
  return shape.reduceRight<z.ZodType>((inner, size) => z.array(inner).length(size), z.number());
}

export class InputPreparer {
  readonly features: number;
  private readonly flatSchema: z.ZodType;
  private readonly nestedSchema: z.ZodType;
  private readonly normalization: { mean: Float64Array; std: Float64Array } | null;
  private readonly shapeText: string;

  constructor(readonly sampleShape: readonly number[], normalization: Normalization | null) {
    this.features = product(sampleShape);
    // z.number() rejects NaN and ±Infinity, which is exactly what we want.
    this.flatSchema = z.array(z.number()).length(this.features);
    this.nestedSchema = nestedSchema(sampleShape);
    this.normalization = normalization ? expandNormalization(normalization, sampleShape) : null;
    this.shapeText =
      sampleShape.length > 1
        ? `${this.features} numbers, nested arrays of shape ${formatShape(sampleShape)}, or ${TYPED_ARRAY_NAMES}`
        : `${this.features} numbers or ${TYPED_ARRAY_NAMES}`;
  }

  /** One sample → one normalised row. */
  sample(sample: unknown, field = 'sample'): Float32Array<ArrayBuffer> {
    const data = new Float32Array(this.features);
    this.writeSample(sample, data, 0, field);
    return data;
  }

  /** Several samples (an array of samples, or one flat typed array) → normalised rows. */
  batch(samples: unknown, field = 'samples'): PreparedRows {
    if (isAcceptedTypedArray(samples)) return this.flatBatch(samples, field);
    if (!Array.isArray(samples)) {
      throw new InputValidationError(field, `an array of samples or ${TYPED_ARRAY_NAMES} of N × ${this.features} numbers`, describeValue(samples));
    }
    if (samples.length === 0) throw new InputValidationError(field, 'at least one sample', 'an empty batch');
    const data = new Float32Array(samples.length * this.features);
    samples.forEach((sample: unknown, row) => this.writeSample(sample, data, row * this.features, `${field}[${row}]`));
    return { data, rows: samples.length };
  }

  private flatBatch(values: AcceptedTypedArray, field: string): PreparedRows {
    if (values.length === 0) throw new InputValidationError(field, 'at least one sample', 'an empty batch');
    if (values.length % this.features !== 0) {
      throw new InputValidationError(field, `a multiple of ${this.features} values (N samples × ${this.features} features)`, describeValue(values));
    }
    const data = new Float32Array(values.length);
    this.copyTypedArray(values, data, 0, field);
    return { data, rows: values.length / this.features };
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
    const parsed = (nested ? this.nestedSchema : this.flatSchema).safeParse(sample, { reportInput: true });
    if (!parsed.success) throw issueToError(outermost(parsed.error.issues), field, nested ? this.sampleShape : [this.features]);
    this.writeNumbers(sample, out, offset);
  }

  private copyTypedArray(values: AcceptedTypedArray, out: Float32Array, offset: number, field: string): void {
    if (!(values instanceof Uint8Array)) {
      const bad = values.findIndex((value) => !Number.isFinite(value));
      if (bad >= 0) throw new InputValidationError(`${field}[${bad}]`, 'a finite number', describeValue(values[bad]));
    }
    const norm = this.normalization;
    if (norm === null) {
      out.set(values, offset);
      return;
    }
    // Normalise in float64 and round once to float32 (what the Python side does too).
    for (let i = 0; i < values.length; i++) {
      const feature = i % this.features;
      out[offset + i] = ((values[i] as number) - (norm.mean[feature] as number)) / (norm.std[feature] as number);
    }
  }

  /** Writes already-validated (possibly nested) numbers in row-major order; returns the next offset. */
  private writeNumbers(values: NestedNumbersLike, out: Float32Array, offset: number, start = offset): number {
    let position = offset;
    for (const value of values) {
      if (typeof value === 'number') {
        const norm = this.normalization;
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
  return issues.reduce<z.core.$ZodIssue | undefined>((best, issue) => (best === undefined || issue.path.length < best.path.length ? issue : best), undefined);
}

function issueToError(issue: z.core.$ZodIssue | undefined, field: string, shape: readonly number[]): InputValidationError {
  if (issue === undefined) return new InputValidationError(field, `a sample of shape ${formatShape(shape)}`, 'something else');
  const path = field + issue.path.map((key) => `[${String(key)}]`).join('');
  const received = describeValue(issue.input);
  if (issue.code === 'invalid_type') {
    const expected = issue.expected === 'number' ? 'a finite number' : `${issue.expected === 'array' ? 'an' : 'a'} ${issue.expected}`;
    return new InputValidationError(path, expected, received);
  }
  if (issue.code === 'too_small' || issue.code === 'too_big') {
    // The path's depth says which axis of the shape this array is.
    const size = shape[issue.path.length] ?? shape[shape.length - 1];
    const innermost = issue.path.length >= shape.length - 1;
    return new InputValidationError(path, `an array of exactly ${size} ${innermost ? 'numbers' : 'arrays'}`, received);
  }
  return new InputValidationError(path, issue.message, received);
}
