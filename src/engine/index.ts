export { Engine, type EngineOptions, type CallOptions } from './engine';
export * from './errors';
export type * from './types';
export { resolveInterpreter, PACKAGE_ROOT, PYTHON_PACKAGE_DIR } from './interpreter';
