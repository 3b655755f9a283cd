export { Engine, withEngine, type EngineOptions, type CallOptions } from './engine';
export {
  EngineError,
  EngineStartError,
  EngineCrashedError,
  EngineClosedError,
  EngineAbortError,
  EngineContractError,
  EnvironmentError,
  PythonError,
  TrainingDivergedError,
  RankFailedError,
  errorFromPython,
  type PythonErrorInfo,
} from './errors';
export type {
  CommandName,
  Commands,
  DoctorResult,
  EngineEvent,
  EpochMetrics,
  EpochRecord,
  ExperimentTrainResult,
  ExportResult,
  FinalMetrics,
  HelloResult,
  ModelResult,
  Phase,
  TeacherLoadOptions,
  WriteSplitResult,
} from './types';
export {
  resolveInterpreter,
  ensureEnvironment,
  environmentDir,
  environmentPython,
  PACKAGE_ROOT,
  PYTHON_PACKAGE_DIR,
  type EnvironmentOptions,
} from './environment';
export { runDistributed, type DistributedRunOptions } from './distributed';
export { ValidationPredictions, checked } from './commands';
export { LockHeldError, type LockOwner } from '../io/lock';
