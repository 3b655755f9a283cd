import * as path from 'node:path';
import { run, type ExperimentInput } from '../src';
import { ROOT, tempDir, tinyData } from './support/tiny';

// A classifier Distillery did not export (input 'image', NCHW [1,1,28,28], fixed batch 1, softmax output,
// pixels / 255, no metadata) as the teacher: no PyTorch code of it is needed. See test/fixtures/make_foreign_mnist.py.
const FOREIGN = path.join(ROOT, 'test', 'fixtures', 'foreign_mnist.onnx');

test('an ONNX file as a black-box teacher, end to end: distil, export, evaluate with the runtime', async () => {
  const experiment: ExperimentInput = {
    name: 'onnx-teacher',
    device: 'cpu',
    data: tinyData,
    teacher: { type: 'onnx', name: 'foreign', path: FOREIGN, normalization: { mean: [0], std: [255] } },
    students: [
      {
        name: 'student',
        model: { type: 'mlp', hidden: [32] },
        method: { type: 'soft-targets', temperature: 4, alpha: 0.9 },
        training: { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } },
      },
    ],
    evaluate: { benchmark: false },
  };
  const report = await run(experiment, { outDir: tempDir('onnx-teacher') });
  // The runtime loads the foreign teacher with the options the engine found (input name, NCHW shape,
  // probabilities, its own normalisation) and measures the same accuracy as the engine did.
  expect(report.teacher.name).toBe('foreign');
  expect(report.teacher.flopsPerSample).toBeNull();
  expect(report.teacher.params).toBe(784 * 32 + 32 + 32 * 10 + 10);
  expect(
    report.teacher.test !== null && 'accuracy' in report.teacher.test && report.teacher.test.accuracy,
  ).toBeGreaterThan(0.85);
  const history = report.students[0]!.history;
  expect(history).toHaveLength(3);
  expect(report.students[0]!.agreementWithTeacher).toBeCloseTo(history[2]!.testAgreement!, 6);
});
