/**
 * Reliability (issue 7), concurrency: 10,000 predictions issued at once through a PredictionPool come back
 * exactly as sequential OnnxModel.predict calls give them — each to its own caller.
 * (The 100,000-prediction memory soak is bench/soak-pool.mjs; its numbers are in docs/ERRORS.md.)
 */
import { PredictionPool, OnnxModel, loadDataset, type Prediction } from '../src/runtime';
import { fixture } from './fixtures/expected';

const COUNT = 10_000;

test(`${COUNT.toLocaleString('en')} concurrent pool predictions equal sequential OnnxModel.predict calls`, async () => {
  const iris = await loadDataset(fixture('iris.npz'));
  const width = iris.sampleShape.reduce((a, b) => a * b, 1);
  // Every sample distinct (a row of the data set plus a per-request offset), so a reply given to the
  // wrong caller cannot go unnoticed.
  const samples = Array.from({ length: COUNT }, (_, i) => {
    const row = Float32Array.from(iris.x.subarray((i % iris.size) * width, ((i % iris.size) + 1) * width));
    return row.map((value, j) => value + ((j + 1) * i) / (10 * COUNT));
  });

  const model = await OnnxModel.load(fixture('iris_student.onnx'));
  const sequential: Prediction[] = [];
  try {
    for (const sample of samples) sequential.push(await model.predict(sample));
  } finally {
    await model.close();
  }

  const pool = await PredictionPool.create(fixture('iris_student.onnx'), { workers: 2 });
  try {
    const concurrent = await Promise.all(samples.map((sample) => pool.predict(sample)));
    expect(concurrent).toHaveLength(COUNT);
    expect(concurrent).toEqual(sequential);
    // the offsets matter: nearly every request has an answer of its own
    expect(
      new Set(sequential.map((p) => ('logits' in p && p.logits ? Array.from(p.logits).join(',') : ''))).size,
    ).toBeGreaterThan(0.9 * COUNT);
  } finally {
    await pool.close();
  }
});
