#!/usr/bin/env node
'use strict';
// Runs the engine's Python interpreter (DISTILLERY_PYTHON, else the cached environment that
// `distillery setup` makes) with the given arguments, python/ on PYTHONPATH, from the repository root:
//   node scripts/python.js -m pytest -q python/tests
//   node scripts/python.js bench/train_loop.py
// A checkout-only helper; it builds what it needs first (like npm test), quietly.
const { spawn } = require('node:child_process');
const os = require('node:os');
const path = require('node:path');
const { ensureNode, ensurePython, ROOT } = require('./bootstrap');

async function main() {
  ensureNode({ quiet: true });
  const python = await ensurePython({
    quiet: true,
    dev: ['pytest', 'ruff', 'mypy'].some((tool) => process.argv.includes(tool)),
  });
  const env = {
    ...process.env,
    PYTHONPATH: [path.join(ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
  };
  const child = spawn(python, process.argv.slice(2), { stdio: 'inherit', env, cwd: ROOT });
  for (const signal of /** @type {const} */ (['SIGINT', 'SIGTERM'])) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => {
    // a child killed by a signal exits the shell way: 128 + the signal's number
    process.exitCode = code ?? 128 + (signal ? os.constants.signals[signal] : 1);
  });
}

main().catch((/** @type {unknown} */ error) => {
  process.stderr.write(`[distillery] set-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
