#!/usr/bin/env node
'use strict';
// The repository checkout's self-bootstrap, shared by `npm run demo`, `npm test` and bin/distillery.js
// (only in a checkout: an installed package ships dist/ prebuilt and does not include this file).
//
//   1. `npm ci` (ONNXRUNTIME_NODE_INSTALL=skip), keyed on the hash of package-lock.json;
//   2. the TypeScript build (tsc -p tsconfig.build.json; the browser entry's declarations, tsc -p
//      tsconfig.build-web.json, and its ES module dist/web/index.mjs by esbuild: scripts/web.js --library), keyed on
//      the newest mtime under src/;
//   3. the engine's Python environment: delegated to the built dist/engine/environment.js, the one
//      implementation the installed package uses too (a per-user cache folder, see `distillery setup`);
//      `--dev` adds requirements-dev.txt (pytest).
//
// Each step compares a stamp with the current state, so a run with nothing to do only reads a few
// stamps and returns. Plain Node with no dependencies: steps 1 and 2 run before anything is installed.
const { spawnSync } = require('node:child_process');
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MIN_NODE = 20;
const BUILD_STAMP = path.join(ROOT, 'node_modules', '.distillery-build-stamp');

class BootstrapError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message);
    this.name = 'BootstrapError';
  }
}

/**
 * @param {boolean} quiet
 * @param {string} message
 */
function log(quiet, message) {
  if (!quiet) process.stderr.write(`[distillery] ${message}\n`);
}

/** @param {string[]} files */
function sha256OfFiles(files) {
  const hash = crypto.createHash('sha256');
  for (const file of files) {
    hash.update(file);
    hash.update(fs.existsSync(file) ? fs.readFileSync(file) : 'missing');
  }
  return hash.digest('hex');
}

/** @param {string} file */
function readStamp(file) {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return null;
  }
}

/**
 * Runs a command to completion; a BootstrapError if it cannot start or fails.
 * @param {string} command
 * @param {string[]} args
 * @param {import('node:child_process').SpawnSyncOptions} [options]
 */
function run(command, args, options = {}) {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...options });
  if (result.error) throw new BootstrapError(`could not run ${command}: ${result.error.message}`);
  if (result.status !== 0) {
    const ending = result.status === null ? `on signal ${result.signal ?? '?'}` : `with exit code ${result.status}`;
    throw new BootstrapError(`\`${command} ${args.join(' ')}\` failed ${ending}`);
  }
  return result;
}

// The bootstrap's own output goes to stderr: stdout belongs to commands like
// `distillery run --json`, whose output must stay parseable.
/** @type {import('node:child_process').StdioOptions} */
const TO_STDERR = ['ignore', process.stderr, 'inherit'];

/** A repository checkout (src/ present, not inside node_modules), as opposed to an installed package. */
function isCheckout() {
  return fs.existsSync(path.join(ROOT, 'src')) && !ROOT.split(path.sep).includes('node_modules');
}

/** @param {boolean} quiet */
function ensureNodeModules(quiet) {
  const lock = path.join(ROOT, 'package-lock.json');
  const stampFile = path.join(ROOT, 'node_modules', '.distillery-stamp');
  const wanted = sha256OfFiles([lock]);
  if (readStamp(stampFile) === wanted) return false;
  // Inside an installed package (node_modules/distillery) the consumer's npm owns node_modules.
  if (!fs.existsSync(lock) || !isCheckout()) return false;
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

/**
 * The newest modification time of any file under `dir` (ms since the epoch).
 * @param {string} dir
 * @returns {number}
 */
function newestMtime(dir) {
  let newest = 0;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    const time = entry.isDirectory() ? newestMtime(full) : fs.statSync(full).mtimeMs;
    if (time > newest) newest = time;
  }
  return newest;
}

/** @param {boolean} quiet */
function ensureBuild(quiet) {
  const src = path.join(ROOT, 'src');
  if (!isCheckout()) return false; // published package: dist/ ships prebuilt
  // The stamp lives in node_modules, not dist/: `npm pack` cleans dist/ and rebuilds it (prepack),
  // and dist/ must not carry it into the tarball.
  const built =
    fs.existsSync(BUILD_STAMP) &&
    fs.existsSync(path.join(ROOT, 'dist', 'cli', 'main.js')) &&
    fs.existsSync(path.join(ROOT, 'dist', 'web', 'index.mjs'))
      ? fs.statSync(BUILD_STAMP).mtimeMs
      : 0;
  const inputs = [
    src,
    ...['tsconfig.json', 'tsconfig.build.json', 'tsconfig.web.json', 'tsconfig.build-web.json'].map((name) =>
      path.join(ROOT, name),
    ),
  ];
  const newest = Math.max(
    ...inputs.map((p) => (fs.statSync(p).isDirectory() ? newestMtime(p) : fs.statSync(p).mtimeMs)),
  );
  if (built >= newest) return false;
  log(quiet, 'building TypeScript (tsc)…');
  run(process.execPath, [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], {
    cwd: ROOT,
    stdio: TO_STDERR,
  });
  // The browser entry's declarations (its own program, with the DOM library), then its ES module.
  run(
    process.execPath,
    [path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build-web.json'],
    {
      cwd: ROOT,
      stdio: TO_STDERR,
    },
  );
  run(process.execPath, [path.join(ROOT, 'scripts', 'web.js'), '--library'], { cwd: ROOT, stdio: TO_STDERR });
  fs.writeFileSync(BUILD_STAMP, new Date().toISOString());
  return true;
}

/** Everything the CLI needs before it can load dist/. */
function ensureNode({ quiet = false } = {}) {
  const major = Number(process.versions.node.split('.')[0]);
  if (major < MIN_NODE)
    throw new BootstrapError(`Node ${MIN_NODE}+ is required; this is Node ${process.versions.node}.`);
  ensureNodeModules(quiet);
  ensureBuild(quiet);
}

/**
 * The engine's interpreter: DISTILLERY_PYTHON, else the cached environment (made or completed here,
 * with requirements-dev.txt when `dev`). Resolves to its path. Needs dist/ (ensureNode first).
 */
function ensurePython({ quiet = false, dev = false } = {}) {
  /** @type {unknown} */ const loaded = require(path.join(ROOT, 'dist', 'engine', 'environment.js'));
  const { resolveInterpreter } = /** @type {typeof import('../src/engine/environment')} */ (loaded);
  return resolveInterpreter(undefined, { dev, log: quiet ? null : undefined });
}

/** ensureNode, then ensurePython; a failure of either as a rejection. */
async function ensureAll({ quiet = false, dev = false } = {}) {
  ensureNode({ quiet });
  return await ensurePython({ quiet, dev });
}

module.exports = { ensureNode, ensurePython, ensureAll, isCheckout, BootstrapError, ROOT };

if (require.main === module) {
  const started = Date.now();
  const args = process.argv.slice(2);
  const quiet = args.includes('--quiet');
  ensureAll({ dev: args.includes('--dev'), quiet })
    .then((python) => {
      log(quiet, `ready (python: ${python}) in ${((Date.now() - started) / 1000).toFixed(2)} s`);
    })
    .catch((/** @type {unknown} */ error) => {
      process.stderr.write(`[distillery] set-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 1;
    });
}
