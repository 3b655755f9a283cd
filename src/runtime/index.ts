/**
 * `distillery/runtime`: run and evaluate exported models with onnxruntime-node.
 * Python-free by construction: nothing here imports src/engine, pythonia, or
 * the training facade, and nothing starts a process.
 */
export { StudentModel } from './model';
export { PredictionPool, type PoolOptions } from './pool';
export { ModelLoadError, InputValidationError, InferenceError, type ModelLoadReason } from './errors';
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

// Evaluation lives in src/eval but ships through this entry point, since
// `distillery/runtime` is the package's Python-free export.
export * from '../eval';
