export { Engine, type EngineOptions, type CallOptions } from './engine';
export * from './errors';
export type * from './types';
export {
  resolveInterpreter,
  ensureEnvironment,
  distilleryHome,
  environmentDir,
  environmentPython,
  PACKAGE_ROOT,
  PYTHON_PACKAGE_DIR,
  type EnvironmentOptions,
} from './environment';
export { LockHeldError, type LockOwner } from './lock';
