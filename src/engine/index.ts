export { Engine, type EngineOptions, type CallOptions } from './engine';
export {
  EngineError,
  EngineStartError,
  EngineCrashedError,
  EngineClosedError,
  EngineAbortError,
  EngineContractError,
  PythonError,
  TrainingDivergedError,
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
export { resolveInterpreter, PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from './interpreter';
