#!/usr/bin/env node
'use strict';
// The `distillery` command. In a repository checkout it first makes sure node_modules and dist/ are
// current (scripts/bootstrap.js: a no-op when they are); an installed package ships dist/ prebuilt
// and needs nothing else. The engine's Python environment is made on first use by the commands that
// need it (`distillery setup`).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MIN_NODE = 20;

if (Number(process.versions.node.split('.')[0]) < MIN_NODE) {
  process.stderr.write(`[distillery] Node ${MIN_NODE}+ is required; this is Node ${process.versions.node}.\n`);
  process.exit(1);
}
if (fs.existsSync(path.join(ROOT, 'src')) && !ROOT.split(path.sep).includes('node_modules')) {
  try {
    require('../scripts/bootstrap').ensureNode({ quiet: false });
  } catch (error) {
    process.stderr.write(`[distillery] set-up failed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  }
}
/** @type {unknown} */
const compiled = require('../dist/cli/main.js');
const cli = /** @type {typeof import('../src/cli/main')} */ (compiled); // dist/ is src/ compiled
// main() reports its own errors and resolves to the exit code; a rejection would be a bug, and Node's
// unhandled-rejection crash (stack trace, exit 1) is the right way to surface it.
void cli.main(process.argv).then((code) => {
  process.exitCode = code;
});
