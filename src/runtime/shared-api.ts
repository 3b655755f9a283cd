/**
 * The part of the public API that `distillery/runtime` (Node) and `distillery/web` (the browser) both ship, listed
 * once: the batcher, the errors a prediction can meet, the post-processing helpers and the types of inputs,
 * predictions and model info. Each entry point re-exports it beside its own `OnnxModel` and platform extras.
 */
export { Batcher, type BatcherOptions, type BatchTarget, type InputCheck } from './batcher';
export {
  ModelLoadError,
  InferenceError,
  QueueFullError,
  BatcherClosedError,
  BatcherOptionError,
  type ModelLoadReason,
} from './errors';
export { InputValidationError } from '../core/errors';
export { softmax, argmax } from './postprocess';
export type {
  Batch,
  ClassPrediction,
  InfoField,
  InputInfo,
  JsonRecord,
  JsonValue,
  LoadOptions,
  ModelInfo,
  ModelInput,
  PreprocessSpec,
  QuantizationInfo,
  TableRow,
  TokenizerInfo,
  NestedNumbers,
  Normalization,
  NumericTypedArray,
  OutputInfo,
  OutputKind,
  Prediction,
  Predictor,
  RegressionPrediction,
  Role,
  Sample,
  Task,
} from './types';
