/**
 * `distillery`: train a teacher, distil students, export them to ONNX.
 *
 * - `run(experiment)` runs a whole experiment (the same as `distillery run`);
 * - `trainTeacher()` and `distill()` are the single steps;
 * - `Engine` is the Python process behind them, to share between calls;
 * - the zod schemas and `experimentJsonSchema()` describe every option.
 *
 * Inference needs none of this: import `distillery/runtime`.
 *
 * @module distillery
 */
export {
  run,
  runSeeds,
  joinDistributedRun,
  verifyRun,
  type RunOptions,
  type RunReport,
  type ModelReport,
  type TeacherReport,
  type SeedsReport,
  type SeedStudentSummary,
  type Verdict,
  type Conclusion,
  type SweepReport,
  type CandidateReport,
  type PairedComparison,
  type FoldScores,
  type VerifyResult,
} from './experiment';
export type {
  ClassificationTest,
  RegressionTest,
  RunWarning,
  VariantReport,
  WarningKind,
} from './experiment/report-types';
export { serve, ServeSetupError, type RunningServer, type ServeOptions, type ServeSetupReason } from './serve';
export type { DataSummary } from './data/types';
export type { TextSummary } from './data/text';
export type { LockOwner } from './io/lock';
export {
  RunFolderError,
  type ArtefactRole,
  type Manifest,
  type ManifestEntry,
  type RunFolderProblem,
} from './io/run-folder';
export {
  trainTeacher,
  distill,
  ArraySource,
  type FacadeCallOptions,
  type FacadeDataInput,
  type TrainTeacherInput,
  type DistillInput,
  type DistillResult,
  type ArraySourceInput,
} from './facade';
export type { TeacherAnswer, TeacherCallContext, TeacherFunction, TeacherInput } from './config/teacher-function';
export { TeacherOutputError, type AnswerKind, type TeacherOutputErrorOptions } from './teacher/answers';
export { AnswerCacheError } from './teacher/cache';
export { TeacherModuleError } from './teacher/module';
export {
  RetryableError,
  TeacherAbortError,
  TeacherCallError,
  TeacherTimeoutError,
  type RowRange,
} from './teacher/schedule';
export type { LabellingEvent, SplitLabelling, TeacherLabelling } from './teacher/label';
export type { Role as DataRole } from './data/types';
export {
  ConfigError,
  Data,
  DataSource,
  DistillOptions,
  Experiment,
  Method,
  Model,
  Student,
  Teacher,
  TrainTeacherOptions,
  Training,
  experimentJsonSchema,
  loadExperimentFile,
  methodTraits,
  parseExperiment,
  type ConfigIssue,
  type DataConfig,
  type DistillOptionsInput,
  type ExperimentConfig,
  type ExperimentInput,
  type MethodConfig,
  type MethodName,
  type MethodTraits,
  type Task,
  type ModelConfig,
  type StudentConfig,
  type TeacherConfig,
  type TrainTeacherOptionsInput,
  type TrainingConfig,
} from './config';
export {
  Engine,
  withEngine,
  EngineAbortError,
  EngineClosedError,
  EngineContractError,
  EngineCrashedError,
  EngineError,
  EngineStartError,
  EnvironmentError,
  LockHeldError,
  PythonError,
  RankFailedError,
  TrainingDivergedError,
  type CallOptions,
  type DoctorResult,
  type EngineEvent,
  type EngineOptions,
  type EpochMetrics,
  type EpochRecord,
  type ExportResult,
  type FinalMetrics,
  type ModelResult,
  type Phase,
  type TeacherLoadOptions,
} from './engine';
