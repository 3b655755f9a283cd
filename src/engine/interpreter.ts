import * as fs from 'node:fs';
import * as path from 'node:path';
import { EngineStartError } from './errors';

/** The package root (holds python/ and .venv/), from src/engine or dist/engine alike. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const PYTHON_PACKAGE_DIR = path.join(PACKAGE_ROOT, 'python');

export function venvPython(root = PACKAGE_ROOT): string {
  return process.platform === 'win32' ? path.join(root, '.venv', 'Scripts', 'python.exe') : path.join(root, '.venv', 'bin', 'python');
}

/**
 * The interpreter the engine runs: `explicit`, else DISTILLERY_PYTHON (an
 * interpreter the user already has torch in), else the bootstrap's .venv.
 */
export function resolveInterpreter(explicit?: string): string {
  const chosen = explicit ?? process.env.DISTILLERY_PYTHON;
  if (chosen) {
    if (path.isAbsolute(chosen) && !fs.existsSync(chosen)) {
      throw new EngineStartError(`the Python interpreter ${chosen} does not exist`, 'point DISTILLERY_PYTHON at an existing python, or unset it to use .venv');
    }
    return chosen;
  }
  const venv = venvPython();
  if (!fs.existsSync(venv)) {
    throw new EngineStartError(`the engine's Python environment (${path.dirname(path.dirname(venv))}) is missing`, 'run `npm run bootstrap` (or any `npx distillery` command), or set DISTILLERY_PYTHON');
  }
  return venv;
}
