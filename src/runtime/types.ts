/**
 * The public types of `distillery/runtime`. Kept small and precise, in the
 * spirit of onnxruntime-common: plain data, discriminated unions, no classes.
 */

import type { PreprocessSpec, TableRow } from '../preprocess/spec';

export type { PreprocessSpec, TableRow } from '../preprocess/spec';

export type Task = 'classification' | 'regression';
export type Role = 'teacher' | 'student';
/** What the model's output holds: raw class scores, class probabilities, or regression values. */
export type OutputKind = 'logits' | 'probabilities' | 'values';

export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };
export type JsonRecord = { readonly [key: string]: JsonValue };

/** `(x - mean) / std`; arrays of length 1, C (channels of a [C, ...] input) or the number of features. */
export interface Normalization {
  readonly mean: readonly number[];
  readonly std: readonly number[];
}

export interface InputInfo {
  readonly name: string;
  /** One sample's shape, without the batch axis. */
  readonly shape: readonly number[];
  readonly dtype: 'float32';
}

export interface OutputInfo {
  readonly name: string;
  readonly kind: OutputKind;
  /** Values per sample (classes, or regression outputs); null when the graph does not say. */
  readonly size: number | null;
}

/** The fields of {@link ModelInfo} that `unknown` may list. */
export type InfoField =
  | 'name'
  | 'role'
  | 'task'
  | 'input.name'
  | 'input.shape'
  | 'output.name'
  | 'output.kind'
  | 'normalization'
  | 'labels'
  | 'model'
  | 'method'
  | 'teacher'
  | 'training'
  | 'metrics'
  | 'params'
  | 'flopsPerSample'
  | 'preprocess'
  | 'version';

export interface QuantizationInfo {
  readonly method: 'int8-dynamic' | 'int8-static' | 'fp16';
  /** The float32 file it was made from (base name), and that file's sha256. */
  readonly source: string;
  readonly sourceSha256: string;
  /** Rows the int8-static ranges were calibrated on; null for the other methods. */
  readonly calibrationRows: number | null;
  readonly tool: string;
}

export interface ModelInfo {
  /** The file the model was loaded from (absolute path). */
  readonly file: string;
  /** The model's name in its experiment; the file's base name when the model has no metadata. */
  readonly name: string;
  readonly role: Role | null;
  readonly task: Task;
  readonly input: InputInfo;
  readonly output: OutputInfo;
  /**
   * The input normalisation, `(x - mean) / std`: applied by the graph itself when `normalizationInGraph`
   * (Distillery's exports), else by the runtime before every run; null when inputs are used as they are.
   */
  readonly normalization: Normalization | null;
  /** true: the graph normalises raw inputs itself, and the runtime only validates and copies them. */
  readonly normalizationInGraph: boolean;
  /** How an int8 / fp16 variant was made from its float32 model; null for any other model. */
  readonly quantization: QuantizationInfo | null;
  /** Class names (classification) or output names (regression). */
  readonly labels: readonly string[] | null;
  readonly model: JsonRecord | null;
  readonly method: JsonRecord | null;
  readonly teacher: JsonRecord | null;
  readonly training: JsonRecord | null;
  readonly metrics: JsonRecord | null;
  /** Parameter count: from the metadata, else counted from the graph's floating-point initializers. */
  readonly params: number | null;
  readonly flopsPerSample: number | null;
  /** How a raw table row or encoded image becomes the input (null: the model takes arrays only). */
  readonly preprocess: PreprocessSpec | null;
  /** Version of the Distillery that exported the model. */
  readonly version: string | null;
  /** null: the batch axis is dynamic. A number: every run takes exactly this many rows (1 for most foreign models). */
  readonly fixedBatchSize: number | null;
  /**
   * Fields that neither the metadata, the graph nor the load options determined;
   * their values above are defaults (the file name, `classification`, `logits`, no normalisation…).
   */
  readonly unknown: readonly InfoField[];
}

/** Options to {@link OnnxModel.load}; they override the model's metadata. */
export interface LoadOptions {
  readonly inputName?: string;
  readonly outputName?: string;
  /** One sample's shape, without the batch axis. */
  readonly sampleShape?: readonly number[];
  /** `values` makes the model a regression model. */
  readonly outputKind?: OutputKind;
  readonly labels?: readonly string[];
  /** null: use inputs as they are, even if the metadata records a normalisation. */
  readonly normalization?: Normalization | null;
  /** onnxruntime intra-op threads (default: up to 4). */
  readonly threads?: number;
}

export interface ClassPrediction {
  readonly task: 'classification';
  readonly label: string;
  /** Index of the most probable class (the first one on a tie). */
  readonly index: number;
  readonly probabilities: number[];
  /** null when the model outputs probabilities. */
  readonly logits: number[] | null;
}

export interface RegressionPrediction {
  readonly task: 'regression';
  readonly values: number[];
}

export type Prediction = ClassPrediction | RegressionPrediction;

export type NumericTypedArray = Float32Array | Float64Array | Uint8Array;
/** Nested arrays of numbers (one level per axis of the sample shape). */
export type NestedNumbers = readonly (number | NestedNumbers)[];
/** One sample: flat (`features` numbers) or nested to match the sample shape. */
export type Sample = NestedNumbers | NumericTypedArray;
/**
 * One input: a sample; for a model trained on a table, a raw row (`{ carat: 0.3, cut: 'Ideal' }`); for a
 * model trained on images, an encoded image (a PNG, JPEG or WebP file's bytes, e.g. a Buffer).
 */
export type ModelInput = Sample | TableRow;
/** Several samples (or rows, or encoded images), or one flat typed array of `N * features` numbers. */
export type Batch = readonly ModelInput[] | NumericTypedArray;

/** What {@link OnnxModel} and {@link PredictionPool} have in common; what eval needs. */
export interface Predictor {
  readonly info: ModelInfo;
  predict(input: ModelInput): Promise<Prediction>;
  predictBatch(samples: Batch): Promise<Prediction[]>;
}
