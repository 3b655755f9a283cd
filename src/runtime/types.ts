/**
 * The public types of `distillery/runtime`. Kept small and precise, in the
 * spirit of onnxruntime-common: plain data, discriminated unions, no classes.
 */

import type { PreprocessSpec, TableRow } from '../preprocess/spec';

export type { PreprocessSpec, TableRow } from '../preprocess/spec';

/** What a model predicts: class scores over labels, or real-valued outputs. */
export type Task = 'classification' | 'regression';
/** Which side of a distillation a model exported by Distillery was trained as. */
export type Role = 'teacher' | 'student';
/** What the model's output holds: raw class scores, class probabilities, or regression values. */
export type OutputKind = 'logits' | 'probabilities' | 'values';

/** Any value JSON can hold, read-only: the values of the JSON records in a model's metadata. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | { readonly [key: string]: JsonValue };
/**
 * A JSON object, read-only: how {@link ModelInfo} carries metadata it does not interpret (model, method, training…).
 */
export type JsonRecord = Readonly<Record<string, JsonValue>>;

/** `(x - mean) / std`; arrays of length 1, C (channels of a [C, ...] input) or the number of features. */
export interface Normalization {
  /** Subtracted from each value (one entry, or one per channel or feature). */
  readonly mean: readonly number[];
  /** Divides each value after the mean is subtracted (never 0). */
  readonly std: readonly number[];
}

/** The model's input tensor, as the runtime feeds it. */
export interface InputInfo {
  /** The input's name in the ONNX graph. */
  readonly name: string;
  /** One sample's shape, without the batch axis. */
  readonly shape: readonly number[];
  /** The element type fed to the graph; always float32. */
  readonly dtype: 'float32';
}

/** The output tensor that predictions are read from. */
export interface OutputInfo {
  /** The output's name in the ONNX graph. */
  readonly name: string;
  /** What the output holds, which decides how predictions are made from it. */
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

/** The tokenizer a text model carries (`distillery.tokenizer`), and the text column it encodes. */
export interface TokenizerInfo {
  /** The text column's name (the only string a row's text goes in). */
  readonly column: string;
  /** 'wordpiece', 'bpe' or 'unigram' (or the tokenizer.json's model type for a user's own tokenizer). */
  readonly kind: string;
  /** Token ids are in [0, vocabSize). */
  readonly vocabSize: number;
  /** Tokens kept per text; longer texts lose tokens on the `truncation` side. */
  readonly maxLength: number;
  /** 'right' keeps a long text's first tokens, 'left' its last. */
  readonly truncation: 'right' | 'left';
  /** sha256 of the tokenizer.json, checked at load against the preprocess spec's. */
  readonly sha256: string;
}

/** How an int8 or fp16 variant was made from its float32 model (the `distillery.quantization` metadata). */
export interface QuantizationInfo {
  /** The quantization method. */
  readonly method: 'int8-dynamic' | 'int8-static' | 'fp16';
  /** The float32 file it was made from (base name), and that file's sha256. */
  readonly source: string;
  /** sha256 of the float32 file it was made from. */
  readonly sourceSha256: string;
  /** Rows the int8-static ranges were calibrated on; null for the other methods. */
  readonly calibrationRows: number | null;
  /** The tool and version that quantized it. */
  readonly tool: string;
}

/**
 * What is known about a loaded model: read from its `distillery.*` metadata, the ONNX graph and the load options
 * (in that order of precedence: options, metadata, graph); see {@link ModelInfo.unknown} for what was guessed.
 */
export interface ModelInfo {
  /** Where the model was loaded from: an absolute path in Node; in the browser its URL, or `(ArrayBuffer)` and the like. */
  readonly file: string;
  /** The model's name in its experiment; the file's base name when the model has no metadata. */
  readonly name: string;
  /** `teacher` or `student` for a Distillery export; null for a foreign model. */
  readonly role: Role | null;
  /** Classification or regression, which decides the shape of each {@link Prediction}. */
  readonly task: Task;
  /** The input tensor the runtime feeds. */
  readonly input: InputInfo;
  /** The output tensor predictions are read from. */
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
  /**
   * The architecture the model was built with (its experiment's `model` block), from the metadata; null if absent.
   */
  readonly model: JsonRecord | null;
  /** The distillation method a student was trained with, from the metadata; null if absent. */
  readonly method: JsonRecord | null;
  /** The teacher a student was distilled from, from the metadata; null if absent. */
  readonly teacher: JsonRecord | null;
  /** The training options used, from the metadata; null if absent. */
  readonly training: JsonRecord | null;
  /** The test metrics recorded at export, from the metadata; null if absent. */
  readonly metrics: JsonRecord | null;
  /** Parameter count: from the metadata, else counted from the graph's floating-point initializers. */
  readonly params: number | null;
  /** Floating-point operations per sample, from the metadata; null if absent. */
  readonly flopsPerSample: number | null;
  /** How a raw table row or encoded image becomes the input (null: the model takes arrays only). */
  readonly preprocess: PreprocessSpec | null;
  /** A text model's tokenizer (its table has a text column); null for any other model. */
  readonly tokenizer: TokenizerInfo | null;
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
  /** The graph input to feed (default: the metadata's, else the graph's only input). */
  readonly inputName?: string;
  /** The graph output to read (default: the metadata's, else the graph's first output). */
  readonly outputName?: string;
  /** One sample's shape, without the batch axis. */
  readonly sampleShape?: readonly number[];
  /** `values` makes the model a regression model. */
  readonly outputKind?: OutputKind;
  /** Class names (classification) or output names (regression); their count must match the output's size. */
  readonly labels?: readonly string[];
  /** null: use inputs as they are, even if the metadata records a normalisation. */
  readonly normalization?: Normalization | null;
  /** onnxruntime intra-op threads (default: up to 4). */
  readonly threads?: number;
}

/** One prediction of a classification model. */
export interface ClassPrediction {
  /** Discriminates {@link ClassPrediction} from {@link RegressionPrediction}. */
  readonly task: 'classification';
  /** The most probable class's name (its index as a string when the model has no labels). */
  readonly label: string;
  /** Index of the most probable class (the first one on a tie). */
  readonly index: number;
  /** Class probabilities (the softmax of the logits, or the model's own output), summing to 1. */
  readonly probabilities: number[];
  /** null when the model outputs probabilities. */
  readonly logits: number[] | null;
}

/** One prediction of a regression model. */
export interface RegressionPrediction {
  /** Discriminates {@link RegressionPrediction} from {@link ClassPrediction}. */
  readonly task: 'regression';
  /** The predicted values, one per output (in the units of the training targets). */
  readonly values: number[];
}

/** One model's prediction for one input; `task` tells which kind. */
export type Prediction = ClassPrediction | RegressionPrediction;

/** The typed arrays accepted as input (converted to float32 when fed). */
export type NumericTypedArray = Float32Array | Float64Array | Uint8Array;
/** Nested arrays of numbers (one level per axis of the sample shape). */
export type NestedNumbers = readonly (number | NestedNumbers)[];
/** One sample: flat (`features` numbers) or nested to match the sample shape. */
export type Sample = NestedNumbers | NumericTypedArray;
/**
 * One input: a sample; for a model trained on a table, a raw row (`{ carat: 0.3, cut: 'Ideal' }`, a text column's
 * cell a string); for a model whose only feature is a text column, the text itself (`'a fine film'`); for a
 * model trained on images, an encoded image (a PNG, JPEG or WebP file's bytes, e.g. a Buffer).
 */
export type ModelInput = Sample | TableRow | string;
/** Several samples (or rows, or encoded images), or one flat typed array of `N * features` numbers. */
export type Batch = readonly ModelInput[] | NumericTypedArray;

/** What {@link OnnxModel} and {@link PredictionPool} have in common; what eval needs. */
export interface Predictor {
  /** The model's description. */
  readonly info: ModelInfo;
  /**
   * Predicts one input.
   * @param input - a sample, a raw table row or an encoded image
   * @returns its prediction
   * @throws {@link InputValidationError} when the input does not fit the model
   */
  predict(input: ModelInput): Promise<Prediction>;
  /**
   * Predicts several inputs at once, faster than one by one.
   * @param samples - the inputs, or one flat typed array of `N * features` numbers
   * @returns one prediction per input, in order
   * @throws {@link InputValidationError} when an input does not fit the model
   */
  predictBatch(samples: Batch): Promise<Prediction[]>;
}
