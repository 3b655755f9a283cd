// A teacher you call, as a module (examples/called-teacher.json; docs/TEACHERS.md). Here it is the shipped MNIST
// teacher run by distillery/runtime, so the example needs no network; in a project it is a fetch() to the model you
// call, throwing an error with `retryable: true` on a 429 or a 503.
import { fileURLToPath } from 'node:url';
import { OnnxModel } from 'distillery/runtime';

const model = await OnnxModel.load(fileURLToPath(new URL('../models/mnist-teacher.onnx', import.meta.url)));

/** rows: each digit's 784 raw pixels (a Float32Array); one answer per row, in order. */
export default async function teacher(rows) {
  const predictions = await model.predictBatch(rows);
  return predictions.map((prediction) => ({ logits: prediction.logits }));
}
