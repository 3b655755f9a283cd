'use strict';
// jest's globalSetup and globalTeardown for the folders that tests make with tempDir() (test/support/tiny.ts): each
// run gets an id, the folders' names carry it, and the teardown removes them all whatever order the files' own hooks
// ran in (an engine may still be closing in a file's last hook). DISTILLERY_KEEP_TEST_DIRS=1 keeps them.
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');

const PREFIX = 'distillery-';

/** Gives this jest run an id that tempDir() puts into every folder's name. */
function setup() {
  process.env.DISTILLERY_TEST_RUN = `run${process.pid.toString(36)}${Date.now().toString(36)}`;
}

/** Removes the folders this run made. */
function teardown() {
  const run = process.env.DISTILLERY_TEST_RUN;
  if (run === undefined || process.env.DISTILLERY_KEEP_TEST_DIRS === '1') return;
  for (const name of fs.readdirSync(os.tmpdir())) {
    if (name.startsWith(`${PREFIX}${run}-`)) fs.rmSync(path.join(os.tmpdir(), name), { recursive: true, force: true });
  }
}

module.exports = { setup, teardown };
