#!/usr/bin/env node
'use strict';
// The `distillery` command. Makes sure node_modules and dist/ are current
// (a no-op when they are), then hands over to the compiled CLI.
const { ensureNode } = require('../scripts/bootstrap');

try {
  ensureNode({ quiet: false });
} catch (error) {
  process.stderr.write(`[distillery] set-up failed: ${error.message}\n`);
  process.exit(1);
}
require('../dist/cli/main.js')
  .main(process.argv)
  .then((code) => {
    process.exitCode = code;
  });
