import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  Engine,
  distill,
  run,
  trainTeacher,
  type DistillInput,
  type EngineEvent,
  type ExperimentInput,
} from '../src';
import { OnnxModel, evaluate } from '../src/runtime';
import { tempDir, tinyData, tinyExperiment } from './support/tiny';

const training = { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } } as const;

describe('the TypeScript facade, end to end on a slice of the embedded MNIST', () => {
  let engine: Engine;
  const outDir = tempDir('facade');
  let teacherCheckpoint = '';

  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(async () => {
    await engine.close();
  });

  test('trainTeacher trains, checkpoints and exports the teacher', async () => {
    const events: EngineEvent[] = [];
    const teacher = await trainTeacher(
      {
        data: tinyData,
        device: 'cpu',
        outDir,
        teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training },
      },
      { engine, onEvent: (event) => events.push(event) },
    );
    teacherCheckpoint = teacher.checkpoint;
    expect(fs.existsSync(teacher.checkpoint)).toBe(true);
    expect(teacher.onnx).toBe(path.join(outDir, 'teacher.onnx'));
    expect(teacher.export!.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    expect(teacher.history.map((epoch) => epoch.epoch)).toEqual([1, 2, 3]);
    expect(teacher.metrics.testAccuracy).toBeGreaterThan(0.6);
    expect(teacher.params).toBe(784 * 64 + 64 + 64 * 10 + 10);
    expect(teacher.flopsPerSample).toBe(2 * (784 * 64 + 64 * 10));
    expect(events.filter((event) => event.event === 'epoch')).toHaveLength(3);
  });

  test.each([
    ['hard-labels', { type: 'hard-labels' }, { type: 'mlp', hidden: [16] }],
    [
      'soft-targets',
      { type: 'soft-targets', temperature: 20, alpha: 0.9, standardizeLogits: false },
      { type: 'mlp', hidden: [16] },
    ],
    ['logit-regression', { type: 'logit-regression' }, { type: 'mlp', hidden: [64], bottleneck: 8 }],
  ] as [string, DistillInput['student']['method'], DistillInput['student']['model']][])(
    'distill with %s produces a working student',
    async (name, method, model) => {
      const student = await distill(
        {
          data: tinyData,
          device: 'cpu',
          outDir,
          teacher: teacherCheckpoint,
          student: { name, model, method, training },
        },
        { engine },
      );
      expect(student.method).toEqual(method);
      expect(student.teacher === null).toBe(method.type === 'hard-labels');
      if (method.type !== 'hard-labels') expect(student.teacher).toMatchObject({ name: 'teacher', outputs: 'cached' });
      const onnx = await OnnxModel.load(student.onnx!);
      try {
        expect(onnx.info).toMatchObject({ name, role: 'student', task: 'classification' });
        expect(onnx.info.method).toEqual(method);
        // The runtime's accuracy on the same held-out rows equals what Python measured during training.
        const split = await engine.call('write_split', {
          data: { ...tinyData, test: { ...tinyData.test, offset: 0, labelled: true } },
          split: 'test',
          path: path.join(outDir, `${name}-test.npz`),
        });
        const report = await evaluate(onnx, split.path);
        expect(report.task === 'classification' && report.accuracy).toBeCloseTo(student.metrics.testAccuracy!, 6);
        expect(student.metrics.testAccuracy).toBeGreaterThan(0.5);
        expect(student.metrics.testAgreement ?? 1).toBeGreaterThan(0.5);
      } finally {
        await onnx.close();
      }
    },
  );

  test('typed arrays from TypeScript travel as an .npz file, not through the bridge', async () => {
    const rows = 120;
    const x = new Float32Array(rows * 4);
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      y[i] = i % 3;
      for (let j = 0; j < 4; j++) x[i * 4 + j] = y[i]! * 2 + ((i * 7 + j * 13) % 10) / 10; // three separable clusters
    }
    const data = {
      train: { type: 'arrays' as const, x, y, sampleShape: [4] },
      test: { type: 'arrays' as const, x, y, sampleShape: [4] },
    };
    const arraysOut = tempDir('facade-arrays');
    const teacher = await trainTeacher(
      {
        data,
        device: 'cpu',
        outDir: arraysOut,
        teacher: {
          type: 'train',
          model: { type: 'mlp', hidden: [8] },
          training: { epochs: 30, batchSize: 16, optimizer: { type: 'adam', lr: 0.02 } },
        },
      },
      { engine },
    );
    expect(fs.existsSync(path.join(arraysOut, 'data', 'train.npz'))).toBe(true);
    expect(teacher.metrics.testAccuracy).toBeGreaterThan(0.9);
    const model = await OnnxModel.load(teacher.onnx!);
    try {
      expect(model.info.input.shape).toEqual([4]);
      expect(model.info.normalization!.mean).toHaveLength(4); // per-feature for vectors
    } finally {
      await model.close();
    }
  });

  test('bad options are ConfigErrors naming the field, before Python is called', async () => {
    await expect(
      distill(
        {
          data: tinyData,
          outDir,
          teacher: teacherCheckpoint,
          student: { name: 's', model: { type: 'mlp' }, method: { type: 'soft-targets', alpha: 2 } },
        },
        { engine },
      ),
    ).rejects.toThrow(/student\.method\.alpha: expected a number in \[0, 1\]/);
    await expect(
      distill(
        {
          data: tinyData,
          outDir,
          student: { name: 's', model: { type: 'mlp' }, method: { type: 'logit-regression' } },
        },
        { engine },
      ),
    ).rejects.toBeInstanceOf(ConfigError);
  });

  test('run() does the whole experiment with a shared engine and returns the report', async () => {
    const report = await run(tinyExperiment({ evaluate: { benchmark: false } }) as ExperimentInput, {
      engine,
      outDir: tempDir('facade-run'),
    });
    expect(report.students.map((student) => student.name)).toEqual(['hard', 'soft', 'mimic', 'mimic-labels']); // mimic's architecture gets a labels baseline
    expect(report.students.every((student) => student.latency === null)).toBe(true);
    expect(engine.isOpen).toBe(true);
  });
});
