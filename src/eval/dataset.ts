/**
 * Datasets for evaluation: `.npz` (arrays `x` and `y`), `.npy` (`x` only), or
 * typed arrays already in memory. Values stay raw; models normalise.
 */
import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { unzipSync } from 'fflate';
import type * as Npy from 'npyjs' with { 'resolution-mode': 'import' };
import { describeValue, InputValidationError } from '../core/errors';

// npyjs is an ES module package with a CommonJS build; its types resolve to the
// ESM entry, so the types come in through a type-only import and the code
// through require, which picks the CommonJS build.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const npy = require('npyjs') as typeof Npy;

/** Sample values as stored: float32, float64 or uint8 (e.g. raw pixels). */
export type FeatureArray = Float32Array | Float64Array | Uint8Array;
/** Class indices (Int32Array) or regression targets (Float32Array / Float64Array). */
export type TargetArray = Int32Array | Float32Array | Float64Array;

/**
 * Samples and (optionally) targets as flat typed arrays, with their shape: what {@link evaluate} and {@link benchmark}
 * run a model over.
 */
export interface Dataset {
  /** `size * product(sampleShape)` values, row-major. */
  readonly x: FeatureArray;
  /** null when the dataset has no targets (a `.npy` file). */
  readonly y: TargetArray | null;
  /** Number of samples. */
  readonly size: number;
  /** One sample's shape, without the batch axis. */
  readonly sampleShape: readonly number[];
  /** Targets per sample: 1 for class indices and single regression targets, K for `[N, K]`. */
  readonly targetWidth: number;
}

/** An in-memory dataset as a caller gives it. */
export interface DatasetArrays {
  /** The samples, `N * product(sampleShape)` values, row-major. */
  readonly x: FeatureArray;
  /** The targets: class indices or regression values (one or `K` per sample); absent or null for none. */
  readonly y?: TargetArray | Uint8Array | null;
  /** One sample's shape, without the batch axis. */
  readonly sampleShape: readonly number[];
}

/**
 * A dataset could not be read or is malformed (missing file, unsupported type, bad array, mismatched sizes);
 * `file`, `key` and `line` say where.
 */
export class DatasetError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'DatasetError';

  constructor(
    /** The dataset file, or null for in-memory arrays. */
    readonly file: string | null,
    /** The array concerned (`x`, `y`), when the problem is one array. */
    readonly key: string | null,
    detail: string,
    options?: { cause?: unknown; line?: number },
  ) {
    const where = file ? `dataset ${file}${options?.line !== undefined ? `:${options.line}` : ''}` : 'dataset';
    super(
      `${where}${key ? ` (array ${key})` : ''}: ${detail}`,
      options?.cause === undefined ? undefined : { cause: options.cause },
    );
    this.line = options?.line ?? null;
  }

  /** The line of a table file (1-based) where the problem is, when it is one row. */
  readonly line: number | null;
}

interface LoadedArray {
  readonly data: ArrayBufferView;
  readonly shape: readonly number[];
  readonly dtype: string;
}

/**
 * Reads a dataset file: `.npz` with arrays `x` (samples, `[N, ...sampleShape]`) and optionally `y` (targets), or
 * `.npy` with samples only. Values stay raw: models apply their own normalisation.
 * @param file - path to the `.npz` or `.npy` file
 * @returns the dataset
 * @throws {@link DatasetError} when the file is missing, of another type, or its arrays are malformed
 */
export async function loadDataset(file: string): Promise<Dataset> {
  const bytes = await readDatasetFile(file);
  const extension = extname(file).toLowerCase();
  if (extension === '.npy') {
    const x = parseNpy(bytes, file, 'x');
    return buildDataset(file, x, null);
  }
  if (extension !== '.npz')
    throw new DatasetError(file, null, `unsupported file type ${extension || '(none)'}; expected .npz or .npy`);
  const members = unzipNpz(bytes, file);
  const arrays = (key: string): LoadedArray | null => {
    const member = members[`${key}.npy`];
    return member === undefined ? null : parseNpy(member, file, key);
  };
  const x = arrays('x');
  if (x === null) throw new DatasetError(file, 'x', `missing; the archive holds ${describeMembers(members)}`);
  const y = arrays('y');
  if (y === null) throw new DatasetError(file, 'y', `missing; the archive holds ${describeMembers(members)}`);
  return buildDataset(file, x, y);
}

function isShape(value: unknown): value is readonly number[] {
  return (
    Array.isArray(value) && value.length > 0 && value.every((size) => Number.isInteger(size) && (size as number) >= 1)
  );
}

/** Checks in-memory arrays and makes a Dataset of them (no copy where the types already fit). */
export function datasetFromArrays(arrays: DatasetArrays): Dataset {
  const { x, sampleShape } = arrays;
  if (!isShape(sampleShape)) {
    throw new InputValidationError(
      'dataset.sampleShape',
      'a non-empty array of positive integers',
      describeValue(sampleShape),
    );
  }
  if (!(x instanceof Float32Array || x instanceof Float64Array || x instanceof Uint8Array)) {
    throw new InputValidationError('dataset.x', 'a Float32Array, Float64Array or Uint8Array', describeValue(x));
  }
  const features = sampleShape.reduce((total, size) => total * size, 1);
  if (x.length === 0 || x.length % features !== 0) {
    throw new InputValidationError(
      'dataset.x',
      `a non-empty multiple of ${features} values (sample shape [${sampleShape.join(', ')}])`,
      describeValue(x),
    );
  }
  const size = x.length / features;
  const y = arrays.y instanceof Uint8Array ? Int32Array.from(arrays.y) : (arrays.y ?? null);
  if (y !== null && (y.length === 0 || y.length % size !== 0)) {
    throw new InputValidationError(
      'dataset.y',
      `${size} targets (or a multiple, for several per sample)`,
      describeValue(y),
    );
  }
  return { x, y, size, sampleShape: [...sampleShape], targetWidth: y === null ? 1 : y.length / size };
}

async function readDatasetFile(file: string): Promise<Uint8Array> {
  try {
    return await readFile(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new DatasetError(
      file,
      null,
      code === 'ENOENT' ? 'no such file' : `cannot read the file (${code ?? String(error)})`,
      { cause: error },
    );
  }
}

function unzipNpz(bytes: Uint8Array, file: string): Record<string, Uint8Array> {
  try {
    // fflate reads both stored (np.savez) and deflated (np.savez_compressed) entries.
    return unzipSync(bytes);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new DatasetError(file, null, `not a valid .npz archive, or it is truncated or corrupt (${detail})`, {
      cause: error,
    });
  }
}

function describeMembers(members: Record<string, Uint8Array>): string {
  const names = Object.keys(members).map((name) => name.replace(/\.npy$/, ''));
  return names.length > 0 ? names.join(', ') : 'no arrays';
}

const SUPPORTED_DTYPES = new Set(['f4', 'f8', 'u1', 'i4', 'i8']);

function parseNpy(bytes: Uint8Array, file: string, key: string): LoadedArray {
  let parsed: Npy.NpyArray;
  try {
    // A fresh, 0-offset ArrayBuffer (a copy: Buffer#slice would share the
    // file's possibly pooled memory): npyjs builds aligned typed-array views on it.
    parsed = npy.parse(new Uint8Array(bytes).buffer);
  } catch (error) {
    const detail = error instanceof Error ? error.message : String(error);
    throw new DatasetError(file, key, `not a valid .npy array, or it is truncated (${detail})`, { cause: error });
  }
  if (!SUPPORTED_DTYPES.has(parsed.dtype)) {
    throw new DatasetError(
      file,
      key,
      `unsupported dtype ${parsed.dtype}; expected float32, float64, uint8, int32 or int64 (little-endian)`,
    );
  }
  if (parsed.fortranOrder)
    throw new DatasetError(file, key, 'Fortran-ordered arrays are not supported; save it C-ordered');
  const expected = parsed.shape.reduce((total, size) => total * size, 1);
  const actual = (parsed.data as unknown as ArrayLike<unknown>).length;
  if (actual !== expected) {
    throw new DatasetError(
      file,
      key,
      `truncated: shape [${parsed.shape.join(', ')}] needs ${expected} values, the file holds ${actual}`,
    );
  }
  return { data: parsed.data, shape: parsed.shape, dtype: parsed.dtype };
}

function buildDataset(file: string, x: LoadedArray, y: LoadedArray | null): Dataset {
  const [size, ...sampleShape] = x.shape;
  if (size === undefined || sampleShape.length === 0) {
    throw new DatasetError(file, 'x', `expected shape [N, ...sampleShape], got [${x.shape.join(', ')}]`);
  }
  const targets = y === null ? null : toTargets(file, y);
  if (y !== null && y.shape[0] !== size) {
    throw new DatasetError(file, 'y', `has ${y.shape[0] ?? 0} rows but x has ${size}`);
  }
  const targetWidth = y === null ? 1 : y.shape.slice(1).reduce((total, width) => total * width, 1);
  return { x: toFeatures(x), y: targets, size, sampleShape, targetWidth };
}

function toFeatures(array: LoadedArray): FeatureArray {
  const { data } = array;
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Uint8Array) return data;
  return Float64Array.from(integerValues(data)); // int32/int64 features
}

function toTargets(file: string, array: LoadedArray): TargetArray {
  const { data } = array;
  if (data instanceof Float32Array || data instanceof Float64Array || data instanceof Int32Array) return data;
  if (data instanceof Uint8Array) return Int32Array.from(data);
  const labels = integerValues(data);
  const outOfRange = labels.findIndex((label) => label > 0x7fffffff || label < -0x80000000);
  if (outOfRange >= 0) throw new DatasetError(file, 'y', `value at ${outOfRange} does not fit a 32-bit label`);
  return Int32Array.from(labels);
}

function integerValues(data: ArrayBufferView): number[] {
  if (data instanceof BigInt64Array) return Array.from(data, Number);
  return Array.from(data as unknown as ArrayLike<number>);
}
