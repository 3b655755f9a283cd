/**
 * `distillery/web`: run exported models in a web page or a worker with onnxruntime-web — the same `OnnxModel` API,
 * metadata contract and preprocessing (table rows, image normalisation, tokenization) as `distillery/runtime`, from
 * the same code, behind a small platform seam. Nothing it loads imports a Node built-in, sharp or onnxruntime-node
 * (.dependency-cruiser.cjs checks it; test/web.test.ts bundles it for the browser and runs it in Chromium, and
 * test/install.test.ts bundles the packed package's dist/web/index.mjs).
 *
 * This file is a public entry point: no module in src imports it.
 *
 * @module distillery/web
 */
export { OnnxModel, type ModelSource } from './model';
export { wasmThreads, type WebBackend, type WebLoadOptions } from './platform';
export { Batcher, type BatcherOptions, type BatchTarget, type InputCheck } from '../runtime/batcher';
export {
  ModelLoadError,
  InferenceError,
  QueueFullError,
  BatcherClosedError,
  BatcherOptionError,
  type ModelLoadReason,
} from '../runtime/errors';
export { InputValidationError } from '../core/errors';
export { softmax, argmax } from '../runtime/postprocess';
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
} from '../runtime/types';
