#!/usr/bin/env node
'use strict';
// Runs the engine's Python interpreter (.venv, or DISTILLERY_PYTHON) with the
// given arguments and python/ on PYTHONPATH: `node scripts/python.js -m pytest`.
const { spawnSync } = require('node:child_process');
const path = require('node:path');
const { ensurePython, ROOT } = require('./bootstrap');

const python = ensurePython(true, process.argv.includes('pytest'));
const env = { ...process.env, PYTHONPATH: [path.join(ROOT, 'python'), process.env.PYTHONPATH].filter(Boolean).join(path.delimiter) };
const result = spawnSync(python, process.argv.slice(2), { stdio: 'inherit', env, cwd: ROOT });
process.exit(result.status ?? 1);
