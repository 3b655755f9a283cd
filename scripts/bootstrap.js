#!/usr/bin/env node
'use strict';
// Self-bootstrap shared by `npm run demo`, `npm test` and the CLI.
//
// Each step compares a stamp (a hash of the file that defines it) with the
// current state, so a second run with nothing to do only hashes three small
// files and returns. Plain Node with no dependencies: it must run before
// `npm ci` has installed anything.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MIN_PYTHON = [3, 10];
const MIN_NODE = 20;

class BootstrapError extends Error {
  constructor(message) {
    super(message);
    this.name = 'BootstrapError';
  }
}

function log(quiet, message) {
  if (!quiet) process.stderr.write(`[distillery] ${message}\n`);
}

function sha256OfFiles(files) {
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(file);
    hash.update(fs.existsSync(file) ? fs.readFileSync(file) : 'missing');
  }
  return hash.digest('hex');
}

function readStamp(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.error) throw new BootstrapError(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new BootstrapError(`\`${command} ${args.join(' ')}\` failed with exit code ${result.status}`);
  }
  return result;
}

// The bootstrap's own output goes to stderr: stdout belongs to commands like
// `distillery run --json`, whose output must stay parseable.
const TO_STDERR = ['ignore', process.stderr, 'inherit'];

function ensureNodeModules(quiet) {
  const lock = path.join(ROOT, 'package-lock.json');
  const stampFile = path.join(ROOT, 'node_modules', '.distillery-stamp');
  const wanted = sha256OfFiles([lock]);
  if (readStamp(stampFile) === wanted) return false;
  // Inside an installed package (node_modules/distillery) the consumer's npm
  // owns node_modules: never run `npm ci` there.
  if (!fs.existsSync(lock) || ROOT.split(path.sep).includes('node_modules')) return false;
  log(quiet, 'installing Node dependencies (npm ci)…');
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  // onnxruntime-node's install script downloads CUDA providers and fails
  // offline; its CPU binaries ship inside the package.
  run(npm, ['ci', '--no-audit', '--no-fund'], {
    cwd: ROOT,
    stdio: TO_STDERR,
    env: { ...process.env, ONNXRUNTIME_NODE_INSTALL: 'skip' },
  });
  fs.writeFileSync(stampFile, wanted);
  return true;
}

function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const time = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    if (time > newest) newest = time;
  }
  return newest;
}

function ensureBuild(quiet) {
  const src = path.join(ROOT, 'src');
  if (!fs.existsSync(src)) return false; // published package: dist/ ships prebuilt
  const stampFile = path.join(ROOT, 'dist', '.build-stamp');
  const built = fs.existsSync(stampFile) ? fs.statSync(stampFile).mtimeMs : 0;
  const inputs = [src, path.join(ROOT, 'tsconfig.json'), path.join(ROOT, 'tsconfig.build.json')];
  const newest = Math.max(...inputs.map((p) => (fs.statSync(p).isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs)));
  if (built >= newest) return false;
  log(quiet, 'building TypeScript (tsc)…');
  run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: TO_STDERR,
  });
  fs.writeFileSync(stampFile, new Date().toISOString());
  return true;
}

function pythonVersion(executable) {
  const probe = spawnSync(executable, ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], { encoding: 'utf8' });
  if (probe.error || probe.status !== 0) return null;
  const [major, minor] = probe.stdout.trim().split('.').map(Number);
  return [major, minor];
}

function findSystemPython() {
  const candidates = process.platform === 'win32' ? ['python', 'py'] : ['python3', 'python'];
  for (const candidate of candidates) {
    const version = pythonVersion(candidate);
    if (version) return { executable: candidate, version };
  }
  return null;
}

function venvPython() {
  return process.platform === 'win32'
    ? path.join(ROOT, '.venv', 'Scripts', 'python.exe')
    : path.join(ROOT, '.venv', 'bin', 'python');
}

function isAtLeast(version, minimum) {
  return version[0] > minimum[0] || (version[0] === minimum[0] && version[1] >= minimum[1]);
}

/** Creates or refreshes .venv from requirements*.txt; returns the interpreter path. */
function ensurePython(quiet, withDev) {
  if (process.env.DISTILLERY_PYTHON) return process.env.DISTILLERY_PYTHON; // the user's own interpreter: hands off
  const files = ['requirements.txt', ...(withDev ? ['requirements-dev.txt'] : [])].map((f) => path.join(ROOT, f));
  const python = venvPython();
  const venvExists = fs.existsSync(python);
  const pending = files.filter((f) => readStamp(`${python}.${path.basename(f)}.sha256`) !== sha256OfFiles([f]));
  if (venvExists && pending.length === 0) return python;

  if (!venvExists) {
    const system = findSystemPython();
    if (!system) {
      throw new BootstrapError(
        `Python ${MIN_PYTHON.join('.')}+ was not found on PATH. Install it (e.g. \`apt-get install python3 python3-venv\` ` +
          'or from python.org), or set DISTILLERY_PYTHON=/path/to/python for an interpreter that already has torch.',
      );
    }
    if (!isAtLeast(system.version, MIN_PYTHON)) {
      throw new BootstrapError(
        `${system.executable} is Python ${system.version.join('.')}, but Distillery needs ${MIN_PYTHON.join('.')}+. ` +
          'Install a newer Python, or set DISTILLERY_PYTHON=/path/to/python.',
      );
    }
    log(quiet, `creating the Python environment .venv with ${system.executable} ${system.version.join('.')}…`);
    run(system.executable, ['-m', 'venv', path.join(ROOT, '.venv')], { stdio: TO_STDERR });
  }
  for (const file of pending) {
    log(quiet, `installing Python packages from ${path.basename(file)} (pip)…`);
    run(python, ['-m', 'pip', 'install', '--disable-pip-version-check', '-q', '-r', file], { cwd: ROOT, stdio: TO_STDERR });
    fs.writeFileSync(`${python}.${path.basename(file)}.sha256`, sha256OfFiles([file]));
  }
  return python;
}

/** Everything the CLI needs before it can load dist/. */
function ensureNode({ quiet = false } = {}) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE) throw new BootstrapError(`Node ${MIN_NODE}+ is required; this is Node ${process.versions.node}.`);
  ensureNodeModules(quiet);
  ensureBuild(quiet);
}

function ensureAll({ quiet = false, dev = false } = {}) {
  ensureNode({ quiet });
  return ensurePython(quiet, dev);
}

module.exports = { ensureNode, ensurePython, ensureAll, venvPython, BootstrapError, ROOT };

if (require.main === module) {
  const started = Date.now();
  try {
    const args = process.argv.slice(2);
    const python = ensureAll({ dev: args.includes('--dev'), quiet: args.includes('--quiet') });
    log(args.includes('--quiet'), `ready (python: ${python}) in ${((Date.now() - started) / 1000).toFixed(2)} s`);
  } catch (error) {
    process.stderr.write(`[distillery] set-up failed: ${error.message}\n`);
    process.exit(1);
  }
}
