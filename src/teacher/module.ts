/**
 * `teacher: { type: 'module', path }`: a module file whose export is the teacher function, for experiment files and
 * the CLI, where a function cannot be written inline. ES modules (.mjs, or .js in a "type": "module" package) and
 * CommonJS (.cjs, .js) both load, through Node's own `import()`.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { pathToFileURL } from 'node:url';
import type { TeacherFunction } from '../config/teacher-function';

/** The module file is missing, cannot be loaded, or has no function where the teacher's `export` names one. */
export class TeacherModuleError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'TeacherModuleError';

  constructor(
    /** The module file. */
    readonly file: string,
    /** The config field at fault: `teacher.path` or `teacher.export`. */
    readonly field: 'teacher.path' | 'teacher.export',
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`${field}: ${file}: ${detail}`, options);
  }
}

// TypeScript would turn a literal `import()` into `require()` in this CommonJS build, and require cannot load an ES
// module; a function made at run time keeps Node's real dynamic import (a fixed body: no user text is evaluated).
// eslint-disable-next-line @typescript-eslint/no-implied-eval
const dynamicImport = new Function('specifier', 'return import(specifier)') as (
  specifier: string,
) => Promise<Record<string, unknown>>;

/** The teacher function a module exports, and the module file's sha256 (its default cache identity). */
export async function loadTeacherModule(
  file: string,
  exportName: string,
): Promise<{ call: TeacherFunction; sha256: string }> {
  let bytes: Buffer;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TeacherModuleError(file, 'teacher.path', code === 'ENOENT' ? 'no such file' : String(error), {
      cause: error,
    });
  }
  let loaded: Record<string, unknown>;
  try {
    loaded = await dynamicImport(pathToFileURL(file).href);
  } catch (error) {
    throw new TeacherModuleError(file, 'teacher.path', `cannot be loaded: ${(error as Error).message}`, {
      cause: error,
    });
  }
  // A CommonJS module's module.exports arrives as the default export; `exports.name` as both.
  const value = loaded[exportName] ?? (exportName === 'default' ? undefined : defaultsOf(loaded)[exportName]);
  if (typeof value !== 'function') {
    const names = Object.keys(loaded).filter((name) => typeof loaded[name] === 'function');
    throw new TeacherModuleError(
      file,
      'teacher.export',
      `the export "${exportName}" is ${value === undefined ? 'missing' : `not a function (${typeof value})`}; ` +
        `its function exports: ${names.length > 0 ? names.join(', ') : 'none'}`,
    );
  }
  return { call: value as TeacherFunction, sha256: createHash('sha256').update(bytes).digest('hex') };
}

function defaultsOf(loaded: Record<string, unknown>): Record<string, unknown> {
  const fallback = loaded.default;
  return typeof fallback === 'object' && fallback !== null ? (fallback as Record<string, unknown>) : {};
}
