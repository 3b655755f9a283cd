#!/usr/bin/env node
'use strict';
// Generated from the zod schemas, the one place these are written (run by `npm run docs`;
// test/contract.test.ts fails while either file is stale):
// - python/distillery/methods/contract.json: every method's traits (needs a teacher, needs labels, tasks),
//   from their entries in src/config/methods.ts; the Python registry reads them;
// - python/tests/zod_defaults.json: the zod-completed defaults of every option block, from which the
//   Python tests build complete requests instead of restating a default (the engine never fills one).
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.join(__dirname, '..');

/**
 * The modules the contract is generated from: compiled (dist/) here, the sources in tests.
 * @typedef {{
 *   schema: typeof import('../src/config/schema'),
 *   methods: typeof import('../src/config/methods'),
 *   commands: typeof import('../src/engine/commands'),
 * }} ContractModules
 */
/**
 * A zod union of objects told apart by a literal `type`, as the model and method unions are.
 * @typedef {{ options: readonly { shape: { type: { value: string } }, parse: (input: unknown) => unknown }[] }} TypedUnion
 */

/**
 * { relative path: contents }, from the compiled (or, in tests, the source) config modules.
 * @param {ContractModules} modules
 */
function contractFiles({ schema, methods, commands }) {
  /**
   * Each member's zod-completed defaults, by its `type`.
   * @param {TypedUnion} union
   * @param {(type: string) => Record<string, unknown>} extra the fields a member requires, by type
   */
  const byType = (union, extra) =>
    Object.fromEntries(
      union.options.map((option) => {
        const type = option.shape.type.value;
        return [type, option.parse({ type, ...extra(type) })];
      }),
    );
  const defaults = {
    data: commands.EngineData.parse({}),
    splitValidation: schema.SplitValidation.parse({ type: 'split' }),
    sources: {
      mnist: schema.DataSource.parse({ type: 'mnist' }),
      file: schema.DataSource.parse({ type: 'file', path: 'x.npz' }),
      shards: schema.ShardsSource.parse({ type: 'shards', x: ['x.npy'] }),
    },
    training: schema.Training.parse({}),
    augment: schema.Augment.parse({}),
    models: byType(schema.Model, (type) => (type === 'custom' ? { module: 'package.module:Class' } : {})),
    methods: byType(methods.Method, () => ({})),
    export: schema.ExportOptions.parse({}),
    evaluate: schema.EvaluateOptions.parse({}),
    onnxTeacher: schema.OnnxTeacher.parse({ type: 'onnx', path: 'teacher.onnx' }),
    huggingfaceOnnxTeacher: schema.HuggingFaceOnnxTeacher.parse({ type: 'huggingface-onnx', path: 'model-folder' }),
    huggingfaceTeacher: schema.HuggingFaceTeacher.parse({ type: 'huggingface', path: 'model-folder' }),
    // the experiment's own scalar defaults (its option blocks are above) and the distributed launch's, which
    // python/tests/test_no_restated_defaults.py looks for in the engine's code
    experiment: Object.fromEntries(
      /** @type {const} */ (['name', 'seed', 'device']).map((key) => [
        key,
        schema.Experiment.shape[key].parse(undefined),
      ]),
    ),
    distributed: schema.Distributed.parse({}),
  };
  /** @param {unknown} value */
  const json = (value) => `${JSON.stringify(value, null, 2)}\n`;
  return {
    'python/distillery/methods/contract.json': json(methods.methodContract()),
    'python/tests/zod_defaults.json': json(defaults),
  };
}

module.exports = { contractFiles };

if (require.main === module) {
  /** @type {Record<keyof ContractModules, unknown>} */
  const compiled = {
    schema: require('../dist/config/schema.js'),
    methods: require('../dist/config/methods.js'),
    commands: require('../dist/engine/commands.js'),
  };
  const files = contractFiles(/** @type {ContractModules} */ (compiled)); // dist/ is src/ compiled: the same types
  for (const [file, contents] of Object.entries(files)) fs.writeFileSync(path.join(ROOT, file), contents);
}
