import { run, type ExperimentInput } from '../src';
import { OnnxModel } from '../src/runtime';
import * as path from 'node:path';
import { tempDir, tinyData } from './support/tiny';

const quick = { epochs: 4, batchSize: 32, optimizer: { type: 'adam' as const, lr: 0.003 } };

test('a CNN teacher (LeNet) distils into a smaller CNN and into an MLP; both export and run in the runtime', async () => {
  const outDir = tempDir('cnn');
  const experiment: ExperimentInput = {
    name: 'cnn',
    device: 'cpu',
    data: tinyData,
    teacher: { type: 'train', model: { type: 'lenet', channels: [8, 16], hidden: [64] }, training: quick },
    students: [
      {
        name: 'lenet',
        model: { type: 'lenet', channels: [4, 8], hidden: [32] },
        method: { type: 'soft-targets', temperature: 4, alpha: 0.9 },
        training: quick,
      },
      { name: 'mlp', model: { type: 'mlp', hidden: [32] }, method: { type: 'logit-regression' }, training: quick },
    ],
    evaluate: { benchmark: false },
  };
  const report = await run(experiment, { outDir });
  expect(report.teacher.model).toMatchObject({ type: 'lenet', channels: [8, 16] });
  expect(
    report.teacher.test !== null && 'accuracy' in report.teacher.test && report.teacher.test.accuracy,
  ).toBeGreaterThan(0.6);
  for (const student of report.students) {
    expect('accuracy' in student.test && student.test.accuracy).toBeGreaterThan(0.4); // chance: 0.1
    expect(student.agreementWithTeacher).toBeGreaterThan(0.4);
    expect(student.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
  }
  // The CNN student takes [28, 28] images (one channel added inside the model), like the data.
  const lenet = await OnnxModel.load(path.join(outDir, 'lenet.onnx'));
  try {
    expect(lenet.info.input.shape).toEqual([28, 28]);
    const prediction = await lenet.predict(new Float32Array(784).fill(0));
    expect(prediction.task === 'classification' && prediction.probabilities).toHaveLength(10);
  } finally {
    await lenet.close();
  }
});
