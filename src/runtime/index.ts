/**
 * `distillery/runtime`: run and evaluate exported models with onnxruntime-node.
 * Python-free by construction: nothing here imports src/engine, pythonia, or
 * the training facade, and nothing starts a process (.dependency-cruiser.cjs
 * checks that nothing it loads reaches the engine).
 *
 * This file is a public entry point, not part of the runtime layer: it sits on
 * top of src/runtime and src/eval, and no module in src imports it.
 *
 * @module distillery/runtime
 */
import { OnnxModel } from './model';

export { OnnxModel };
/**
 * @deprecated Renamed `OnnxModel`: it loads any exported model, teachers too. This alias stays for v0.1 code.
 */
export const StudentModel = OnnxModel;
/** @deprecated Renamed `OnnxModel`. */
export type StudentModel = OnnxModel;
export { PredictionPool, type PoolOptions } from './pool';
export { WorkerDiedError } from './errors';
// What the browser's entry ships too: one list (src/runtime/shared-api.ts).
export * from './shared-api';

// Evaluation lives in src/eval but ships through this entry point, since
// `distillery/runtime` is the package's Python-free export.
export {
  accuracy,
  confusionMatrix,
  errorCount,
  expectedCalibrationError,
  mae,
  negativeLogLikelihood,
  perClassMetrics,
  predictionAgreement,
  r2,
  rmse,
  topKAccuracy,
  DatasetError,
  datasetFromArrays,
  loadDataset,
  agreement,
  evaluate,
  benchmark,
  percentile,
  type ClassMetrics,
  type Labels,
  type ProbabilityRows,
  type Dataset,
  type DatasetArrays,
  type FeatureArray,
  type TargetArray,
  type AgreementReport,
  type ClassificationReport,
  type DatasetSource,
  type EvaluateOptions,
  type EvaluationReport,
  type LabelledClassMetrics,
  type RegressionReport,
  type BenchmarkOptions,
  type BenchmarkReport,
  type LatencyStats,
  type ThroughputResult,
} from '../eval';
