/**
 * `distillery`: train a teacher, distil students, export them to ONNX.
 *
 * - `run(experiment)` runs a whole experiment (the same as `distillery run`);
 * - `trainTeacher()` and `distill()` are the single steps;
 * - `Engine` is the Python process behind them, to share between calls;
 * - the zod schemas and `experimentJsonSchema()` describe every option.
 *
 * Inference needs none of this: import `distillery/runtime`.
 */
export {
  run,
  joinDistributedRun,
  verifyRun,
  RunFolderError,
  type RunOptions,
  type RunReport,
  type ModelReport,
  type VerifyResult,
  type Manifest,
  type ManifestEntry,
  type ArtefactRole,
  type RunFolderProblem,
} from './experiment';
export {
  trainTeacher,
  distill,
  withEngine,
  ArraySource,
  type FacadeCallOptions,
  type FacadeDataInput,
  type TrainTeacherInput,
  type DistillInput,
  type ArraySourceInput,
} from './facade';
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
  type ModelConfig,
  type StudentConfig,
  type TeacherConfig,
  type TrainTeacherOptionsInput,
  type TrainingConfig,
} from './config';
export {
  Engine,
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
