/**
 * Inference without Python: load the shipped student, predict one digit, and
 * check it against the held-out split. Imports only `distillery/runtime`.
 *
 *   npx tsc examples/predict-digit.ts --outDir /tmp/ex && node /tmp/ex/predict-digit.js
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { OnnxModel, evaluate, loadDataset } from 'distillery/runtime';

async function main(): Promise<void> {
  const models = path.join(path.dirname(require.resolve('distillery/package.json')), 'models');
  const card = JSON.parse(fs.readFileSync(path.join(models, 'mnist-student.json'), 'utf8')) as {
    heldout: { accuracy: number };
  };
  const student = await OnnxModel.load(path.join(models, 'mnist-student.onnx'));
  try {
    const heldout = await loadDataset(path.join(models, 'mnist-heldout.npz'));
    const firstDigit = heldout.x.subarray(0, 28 * 28); // raw pixels 0-255; the model normalises them itself
    const prediction = await student.predict(firstDigit);
    if (prediction.task !== 'classification') throw new Error('expected a classifier');
    console.log(
      `first held-out digit: predicted ${prediction.label} (${(100 * prediction.probabilities[prediction.index]!).toFixed(1)}%), true ${heldout.y?.[0]}`,
    );
    const report = await evaluate(student, heldout);
    if (report.task !== 'classification') throw new Error('expected a classifier');
    console.log(
      `held-out accuracy ${(100 * report.accuracy).toFixed(2)}% (${report.errors} errors of ${report.samples}); model card: ${(100 * card.heldout.accuracy).toFixed(2)}%`,
    );
    if (Math.abs(report.accuracy - card.heldout.accuracy) > 1e-9) process.exitCode = 1;
  } finally {
    await student.close();
  }
}

void main();
