#!/usr/bin/env node
'use strict';
// Writes python/distillery/methods/contract.json: every method's traits (needs a teacher, needs labels,
// tasks), copied from their zod entries in src/config/methods.ts, the one place they are declared.
// Run by `npm run docs`; test/contract.test.ts fails while the file is stale.
const fs = require('node:fs');
const path = require('node:path');
const { methodContract } = require('../dist/config/methods.js');

const file = path.join(__dirname, '..', 'python', 'distillery', 'methods', 'contract.json');
fs.writeFileSync(file, `${JSON.stringify(methodContract(), null, 2)}\n`);

// The zod-completed defaults of every option block, for the Python tests: they build complete requests
// from these instead of restating a default (the engine itself never fills one).
const schema = require('../dist/config/schema.js');
const { METHODS } = require('../dist/config/methods.js');
const variants = (union, base) => Object.fromEntries(union.options.map((option) => {
  const type = option.shape.type.value;
  return [type, option.parse({ type, ...base(type) })];
}));
const defaults = {
  data: schema.Data.parse({}),
  sources: { mnist: schema.DataSource.parse({ type: 'mnist' }), file: schema.DataSource.parse({ type: 'file', path: 'x.npz' }) },
  training: schema.Training.parse({}),
  models: variants(schema.Model, (type) => (type === 'custom' ? { module: 'package.module:Class' } : {})),
  methods: Object.fromEntries(METHODS.map((method) => [method.shape.type.value, method.parse({ type: method.shape.type.value })])),
  export: schema.ExportOptions.parse({}),
  evaluate: schema.EvaluateOptions.parse({}),
  onnxTeacher: schema.OnnxTeacher.parse({ type: 'onnx', path: 'teacher.onnx' }),
};
fs.writeFileSync(path.join(__dirname, '..', 'python', 'tests', 'zod_defaults.json'), `${JSON.stringify(defaults, null, 2)}\n`);
