/** Evaluation over the runtime: metrics, datasets, evaluate/agreement, benchmark. Python-free. */
export {
  accuracy,
  confusionMatrix,
  errorCount,
  expectedCalibrationError,
  mae,
  negativeLogLikelihood,
  perClassFromConfusion,
  perClassMetrics,
  predictionAgreement,
  r2,
  rmse,
  topKAccuracy,
  type ClassMetrics,
  type Labels,
  type ProbabilityRows,
} from './metrics';
export {
  DatasetError,
  datasetFromArrays,
  loadDataset,
  type Dataset,
  type DatasetArrays,
  type FeatureArray,
  type TargetArray,
} from './dataset';
export {
  agreement,
  evaluate,
  type AgreementReport,
  type ClassificationReport,
  type DatasetSource,
  type EvaluateOptions,
  type EvaluationReport,
  type LabelledClassMetrics,
  type RegressionReport,
} from './evaluate';
export {
  benchmark,
  percentile,
  type BenchmarkOptions,
  type BenchmarkReport,
  type LatencyStats,
  type ThroughputResult,
} from './benchmark';
