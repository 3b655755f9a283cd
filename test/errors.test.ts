/**
 * Reliability (issue 7), bad inputs: every case fails with a typed error that names the field or the file
 * and says what was expected — no hang, no orphan Python process, no partial output. docs/ERRORS.md lists
 * every case (with the ones tested elsewhere) and its exact error.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  Engine,
  PythonError,
  TrainingDivergedError,
  distill,
  parseExperiment,
  run,
  trainTeacher,
} from '../src';
import { resolveInterpreter } from '../src/engine';
import { loadExperimentFile } from '../src/config';
import { enginePids, tempDir, tinyData, tinyExperiment } from './support/tiny';

/** The engine's interpreter (DISTILLERY_PYTHON, else the cached environment), for numpy and torch checks. */
let PYTHON = '';
beforeAll(async () => {
  PYTHON = await resolveInterpreter();
});
const FIXTURES = path.join(__dirname, 'fixtures');
const quick = { epochs: 1, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } } as const;
const mlp = { type: 'mlp' as const, hidden: [8] };

/** The error a promise rejects with (fails the test if it resolves). */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** Files with a model artefact's extension under `dir` (checkpoints, .onnx, reports): none after a failure. */
function artefacts(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir, { recursive: true })
    .map(String)
    .filter((name) => /\.(pt|onnx)$|report\.(json|md)$|\.tmp-/.test(name));
}

/** Writes an .npz with numpy (for dtypes TypeScript cannot make: strings, Python objects). */
function numpyFile(file: string, code: string): string {
  execFileSync(PYTHON, ['-c', `import numpy as np, sys\nf = sys.argv[1]\n${code}`, file]);
  return file;
}

// ------------------------------------------------------------------ zod: configs and hyper-parameters

const minimal = {
  teacher: { type: 'train', model: { type: 'mlp', hidden: [16] } },
  students: [{ name: 'student', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' } }],
};

function issuesFor(value: unknown): string[] {
  const error = (() => {
    try {
      parseExperiment(value);
    } catch (caught) {
      return caught;
    }
    throw new Error('expected a ConfigError');
  })();
  expect(error).toBeInstanceOf(ConfigError);
  return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
}

const student = (patch: Record<string, unknown>): Record<string, unknown> => ({
  ...minimal,
  students: [{ ...minimal.students[0], ...patch }],
});
const training = (patch: Record<string, unknown>): Record<string, unknown> => student({ training: patch });

describe('configs: zod names the field and what was expected (TS, before Python starts)', () => {
  test.each<[string, unknown, string]>([
    [
      'NaN temperature',
      student({ method: { type: 'soft-targets', temperature: Number.NaN } }),
      'students[0].method.temperature: expected a number > 0',
    ],
    [
      'zero temperature',
      student({ method: { type: 'soft-targets', temperature: 0 } }),
      'students[0].method.temperature: expected a number > 0',
    ],
    [
      'alpha above 1',
      student({ method: { type: 'soft-targets', alpha: 1.5 } }),
      'students[0].method.alpha: expected a number in [0, 1]',
    ],
    [
      'negative alpha',
      student({ method: { type: 'soft-targets', alpha: -0.1 } }),
      'students[0].method.alpha: expected a number in [0, 1]',
    ],
    [
      'zero learning rate',
      training({ optimizer: { type: 'adam', lr: 0 } }),
      'students[0].training.optimizer.lr: expected a learning rate > 0',
    ],
    [
      'negative learning rate',
      training({ optimizer: { type: 'sgd', lr: -0.1 } }),
      'students[0].training.optimizer.lr: expected a learning rate > 0',
    ],
    [
      'infinite epochs',
      training({ epochs: Number.POSITIVE_INFINITY }),
      'students[0].training.epochs: expected a number of epochs > 0',
    ],
    ['zero batch size', training({ batchSize: 0 }), 'students[0].training.batchSize: expected a batch size > 0'],
    [
      'momentum of 1',
      training({ optimizer: { type: 'sgd', lr: 0.1, momentum: 1 } }),
      'students[0].training.optimizer.momentum: expected a number in [0, 1)',
    ],
    [
      'zero schedule factor',
      training({ schedule: { type: 'step', gamma: 0 } }),
      'students[0].training.schedule.gamma: expected a factor > 0',
    ],
    [
      'negative warmup',
      training({ schedule: { type: 'cosine', warmupEpochs: -1 } }),
      'students[0].training.schedule.warmupEpochs: expected an integer >= 0',
    ],
    [
      'shift above 8',
      training({ augment: { shift: 9 } }),
      'students[0].training.augment.shift: expected at most 8 pixels',
    ],
    [
      'dropout of 1',
      student({ model: { type: 'mlp', dropout: 1 } }),
      'students[0].model.dropout: expected a number in [0, 1)',
    ],
    [
      'zero-width layer',
      student({ model: { type: 'mlp', hidden: [0] } }),
      'students[0].model.hidden[0]: expected a layer width > 0',
    ],
    ['unknown key in training', training({ learningRate: 0.1 }), 'students[0].training.learningRate: unknown key'],
    ['negative seed', { ...minimal, seed: -1 }, 'seed: expected a seed >= 0'],
    ['unknown device', { ...minimal, device: 'tpu' }, 'device: expected auto, cpu, cuda or cuda:N'],
    ['one class', { ...minimal, data: { numClasses: 1 } }, 'data.numClasses: expected an integer >= 2'],
    ['opset too old', { ...minimal, export: { opset: 16 } }, 'export.opset: expected an opset >= 17'],
    [
      'zero parity tolerance',
      { ...minimal, export: { parityTolerance: 0 } },
      'export.parityTolerance: expected a tolerance > 0',
    ],
    ['no students', { ...minimal, students: [] }, 'students: expected at least one student'],
    [
      'empty ensemble',
      { ...minimal, teacher: { type: 'ensemble', members: [] } },
      'teacher.members: expected at least one member',
    ],
    [
      'negative offset',
      { ...minimal, data: { train: { type: 'mnist', offset: -5 } } },
      'data.train.offset: expected an integer >= 0',
    ],
    [
      'custom module not a class path',
      student({ model: { type: 'custom', module: 'os.system' } }),
      "students[0].model.module: expected 'package.module:ClassName'",
    ],
  ])('%s', (_name, config, issue) => {
    expect(issuesFor(config)).toEqual([issue]);
  });

  test('a config that is not an object', () => {
    expect(issuesFor(null)).toEqual([': Invalid input: expected object, received null']);
    expect(issuesFor([1, 2])).toEqual([': Invalid input: expected object, received array']);
  });

  test('an unknown data source type names the field and the choices', () => {
    const [issue] = issuesFor({ ...minimal, data: { train: { type: 's3', path: 'x' } } });
    expect(issue).toMatch(/^data\.train\.type: .*mnist.*file/);
  });

  test('a missing experiment file and malformed YAML name the file', () => {
    const folder = tempDir('errors-config');
    const missing = path.join(folder, 'nope.json');
    expect(() => loadExperimentFile(missing)).toThrow(ConfigError);
    expect(() => loadExperimentFile(missing)).toThrow(
      `invalid config ${missing}:\n  (root): cannot read the experiment file: ENOENT`,
    );
    const yaml = path.join(folder, 'broken.yaml');
    fs.writeFileSync(yaml, 'teacher: [unclosed\n');
    const error = (() => {
      try {
        loadExperimentFile(yaml);
      } catch (caught) {
        return caught as ConfigError;
      }
      throw new Error('expected a ConfigError');
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.file).toBe(yaml);
    expect(error.message).toContain('not valid YAML');
  });
});

// ------------------------------------------------------------------ through the engine

describe('bad inputs through the engine: PythonError with the field and the file', () => {
  let engine: Engine;
  const folder = tempDir('errors');
  let teacher10 = '';
  const pidsBefore = enginePids();

  beforeAll(async () => {
    engine = await Engine.start();
    // A teacher trained on the 10 MNIST classes, for the class-count mismatch below.
    const teacher = await trainTeacher(
      {
        data: { train: { ...tinyData.train, limit: 128 }, test: { ...tinyData.test, limit: 64 } },
        device: 'cpu',
        outDir: path.join(folder, 'teacher'),
        export: false,
        teacher: { type: 'train', model: mlp, training: quick },
      },
      { engine },
    );
    teacher10 = teacher.checkpoint;
  });

  afterAll(async () => {
    const pid = engine.pid!;
    await engine.close();
    // no orphan: the engine's Python is gone, and no other engine process was left by the failures
    expect(enginePids()).not.toContain(pid);
    expect(enginePids().filter((p) => !pidsBefore.includes(p))).toEqual([]);
  });

  /** Three well-separated classes of 28x28 "images" (or `features`-long vectors), as typed arrays. */
  function threeClasses(rows = 30, sampleShape: number[] = [28, 28]) {
    const width = sampleShape.reduce((a, b) => a * b, 1);
    const x = new Float32Array(rows * width);
    const y = new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      y[i] = i % 3;
      for (let j = 0; j < width; j++) x[i * width + j] = y[i]! * 50 + ((i * 7 + j * 13) % 10);
    }
    return { type: 'arrays' as const, x, y, sampleShape };
  }

  /** Runs a failing call and checks the error, that the engine survived and that no artefact was written. */
  async function expectPythonError(
    call: (outDir: string) => Promise<unknown>,
    expected: { pythonType: string; field: string | undefined; file?: string | RegExp; message: RegExp },
  ): Promise<PythonError> {
    const outDir = tempDir('errors-out');
    const error = await rejection(call(outDir));
    expect(error).toBeInstanceOf(PythonError);
    const python = error as PythonError;
    expect(python.pythonType).toBe(expected.pythonType);
    expect(python.field).toBe(expected.field);
    if (typeof expected.file === 'string') expect(python.file).toBe(expected.file);
    else if (expected.file) expect(python.file).toMatch(expected.file);
    expect(python.message).toMatch(expected.message);
    expect(engine.isOpen).toBe(true);
    expect(artefacts(outDir)).toEqual([]);
    return python;
  }

  test('a teacher checkpoint trained on 10 classes, with data of 3 classes', async () => {
    await expectPythonError(
      (outDir) =>
        distill(
          {
            data: { train: threeClasses(), test: threeClasses(9) },
            device: 'cpu',
            outDir,
            teacher: teacher10,
            student: { name: 's', model: mlp, method: { type: 'soft-targets' }, training: quick },
          },
          { engine },
        ),
      {
        pythonType: 'ConfigError',
        field: 'teacher',
        file: teacher10,
        message: /^ConfigError: teacher: the checkpoint has 10 outputs, the data has 3 classes$/,
      },
    );
  });

  test('a teacher checkpoint that is truncated, or missing', async () => {
    const truncated = path.join(folder, 'truncated.pt');
    fs.writeFileSync(truncated, fs.readFileSync(teacher10).subarray(0, 300));
    const student = { name: 's', model: mlp, method: { type: 'logit-regression' as const }, training: quick };
    await expectPythonError(
      (outDir) => distill({ data: tinyData, device: 'cpu', outDir, teacher: truncated, student }, { engine }),
      {
        pythonType: 'CheckpointError',
        field: undefined,
        file: truncated,
        message: /is not a readable checkpoint \(corrupt, truncated, or not weights-only\)/,
      },
    );
    const missing = path.join(folder, 'missing.pt');
    await expectPythonError(
      (outDir) => distill({ data: tinyData, device: 'cpu', outDir, teacher: missing, student }, { engine }),
      {
        pythonType: 'CheckpointError',
        field: undefined,
        file: missing,
        message: /checkpoint not found/,
      },
    );
  });

  test.each<
    [
      string,
      () => Record<string, unknown>,
      { pythonType: string; field: string; file?: RegExp | string; message: RegExp },
    ]
  >([
    [
      'a truncated .npz',
      () => ({ train: { type: 'file', path: path.join(FIXTURES, 'truncated.npz') } }),
      {
        pythonType: 'DataError',
        field: 'data.train.path',
        file: path.join(FIXTURES, 'truncated.npz'),
        message: /is not a readable \.npz \(corrupt or truncated\?\)/,
      },
    ],
    [
      'an .npz without the x array',
      () => ({ train: { type: 'file', path: path.join(FIXTURES, 'iris.npz'), x: 'inputs' } }),
      {
        pythonType: 'DataError',
        field: 'data.train.x',
        file: path.join(FIXTURES, 'iris.npz'),
        message: /has no array 'inputs' \(it has: x, y\)/,
      },
    ],
    [
      'an object-dtype .npz (a pickle)',
      () => ({
        train: {
          type: 'file',
          path: numpyFile(
            path.join(folder, 'objects.npz'),
            'np.savez(f, x=np.array([{"a": 1}, None], dtype=object), y=np.array([0, 1]))',
          ),
        },
      }),
      {
        pythonType: 'DataError',
        field: 'data.train.path',
        file: /objects\.npz$/,
        message: /holds Python objects \(dtype object\), which are refused/,
      },
    ],
    [
      'string labels',
      () => ({
        train: {
          type: 'file',
          path: numpyFile(
            path.join(folder, 'strings.npz'),
            'np.savez(f, x=np.ones((4, 784), np.float32), y=np.array(list("abab")))',
          ),
        },
      }),
      {
        pythonType: 'DataError',
        field: 'data.train.y',
        file: /strings\.npz$/,
        message: /y must be numeric .*got dtype <U1/,
      },
    ],
    [
      'NaN in the inputs',
      () => ({ train: { ...threeClasses(), x: threeClasses().x.map((v, i) => (i === 800 ? Number.NaN : v)) } }),
      {
        pythonType: 'DataError',
        field: 'data.train.x',
        file: /data\/train\.npz$/,
        message: /x holds NaN or Infinity \(first at row 1\)/,
      },
    ],
    [
      'labels out of range for numClasses',
      () => ({ numClasses: 3, train: { ...threeClasses(), y: threeClasses().y.map((v, i) => (i === 4 ? 5 : v)) } }),
      {
        pythonType: 'DataError',
        field: 'data.train.y',
        file: /data\/train\.npz$/,
        message: /labels must lie in \[0, 2\] for 3 classes, found 5/,
      },
    ],
    [
      'test samples of another shape',
      () => ({ train: threeClasses(), test: threeClasses(9, [4]) }),
      {
        pythonType: 'DataError',
        field: 'data.test.x',
        file: /data\/test\.npz$/,
        message: /samples have shape \[4\], but data\.train's have \[28, 28\]/,
      },
    ],
    [
      'an empty slice',
      () => ({ test: { type: 'mnist', split: 'test', offset: 5000 } }),
      { pythonType: 'DataError', field: 'data.test', message: /data\.test: the dataset is empty/ },
    ],
  ])('data: %s', async (_name, data, expected) => {
    await expectPythonError(
      (outDir) =>
        trainTeacher(
          {
            data: { ...tinyData, test: threeClasses(9), ...data() },
            device: 'cpu',
            outDir,
            teacher: { type: 'train', model: mlp, training: quick },
          },
          { engine },
        ),
      expected,
    );
  });

  test("a custom student whose output size differs from the data's classes", async () => {
    await expectPythonError(
      (outDir) =>
        distill(
          {
            data: { train: threeClasses(30, [4]), test: threeClasses(9, [4]) },
            device: 'cpu',
            outDir,
            student: {
              name: 's',
              model: { type: 'custom', module: 'torch.nn:Linear', kwargs: { in_features: 4, out_features: 10 } },
              method: { type: 'hard-labels' },
              training: quick,
            },
          },
          { engine },
        ),
      {
        pythonType: 'ConfigError',
        field: 'student.model.module',
        message: /'torch\.nn:Linear' returns outputs of shape \[2, 10\] .*expected \[2, 3\]/,
      },
    );
  });

  test('an image model on vector data', async () => {
    await expectPythonError(
      (outDir) =>
        trainTeacher(
          {
            data: { train: threeClasses(30, [4]), test: threeClasses(9, [4]) },
            device: 'cpu',
            outDir,
            teacher: { type: 'train', model: { type: 'lenet' }, training: quick },
          },
          { engine },
        ),
      {
        pythonType: 'ConfigError',
        field: 'teacher.model.type',
        message: /image models need \[C,H,W\] or \[H,W\] samples, got \[4\]/,
      },
    );
  });

  test('in-memory arrays that do not fit their sampleShape are ConfigErrors before Python', async () => {
    const outDir = tempDir('errors-arrays');
    const call = (train: Record<string, unknown>): Promise<unknown> =>
      trainTeacher(
        { data: { train, test: threeClasses(9) } as never, outDir, teacher: { type: 'train', model: mlp } },
        { engine },
      );
    const ragged = (await rejection(
      call({ type: 'arrays', x: new Float32Array(10), sampleShape: [4] }),
    )) as ConfigError;
    expect(ragged).toBeInstanceOf(ConfigError);
    expect(ragged.field).toBe('data.train.x');
    expect(ragged.message).toContain('expected a non-empty multiple of 4 values (sampleShape [4]), got 10');
    const empty = (await rejection(call({ type: 'arrays', x: new Float32Array(0), sampleShape: [4] }))) as ConfigError;
    expect(empty.field).toBe('data.train.x');
    const labels = (await rejection(
      call({ type: 'arrays', x: new Float32Array(8), y: new Int32Array(3), sampleShape: [4] }),
    )) as ConfigError;
    expect(labels.field).toBe('data.train.y');
    expect(labels.message).toContain('expected 2 labels (or a multiple for several targets), got 3');
    const dtype = (await rejection(call({ type: 'arrays', x: new Int16Array(8), sampleShape: [4] }))) as ConfigError;
    expect(dtype).toBeInstanceOf(ConfigError);
    expect(dtype.field).toBe('data.train.x');
    expect(artefacts(outDir)).toEqual([]);
  });

  test('an output folder that cannot be written (its parent is a regular file — root ignores chmod 0555)', async () => {
    const blocker = path.join(folder, 'a-file');
    fs.writeFileSync(blocker, 'not a folder');
    const outDir = path.join(blocker, 'out');
    // The facade refuses it before Python is asked anything …
    const facade = (await rejection(
      trainTeacher({ data: tinyData, outDir, teacher: { type: 'train', model: mlp } }, { engine }),
    )) as ConfigError;
    expect(facade).toBeInstanceOf(ConfigError);
    expect(facade.field).toBe('outDir');
    expect(facade.message).toContain(
      `outDir: cannot write to the output folder ${outDir}: a part of the path is a file, not a folder (ENOTDIR)`,
    );
    // … and the engine itself refuses it before training (python -m distillery, or a direct call).
    const python = await expectPythonError(
      () =>
        engine.call('train_teacher', {
          data: tinyData,
          outDir,
          device: 'cpu',
          seed: 0,
          teacher: parseExperiment(tinyExperiment()).teacher as { type: 'train'; model: { type: 'mlp' } },
        }),
      {
        pythonType: 'OutputError',
        field: 'outDir',
        file: outDir,
        message: /outDir: cannot write .*: a part of the path is a file, not a folder/,
      },
    );
    expect(python.file).toBe(outDir);
    // run() too, without starting an engine.
    const pids = enginePids();
    const runError = (await rejection(run(tinyExperiment() as never, { outDir }))) as ConfigError;
    expect(runError).toBeInstanceOf(ConfigError);
    expect(runError.field).toBe('outDir');
    expect(enginePids()).toEqual(pids);
  });

  test("divergence: TrainingDivergedError with epoch and step; the last good epoch's state file is kept and loads", async () => {
    const outDir = tempDir('errors-diverge');
    const events: string[] = [];
    // Epoch 1 is sane; the step schedule then multiplies the learning rate by 1e38 and the loss blows up in epoch 2.
    const error = await rejection(
      trainTeacher(
        {
          data: { train: { ...tinyData.train, limit: 256 }, test: { ...tinyData.test, limit: 64 } },
          device: 'cpu',
          outDir,
          teacher: {
            type: 'train',
            model: mlp,
            training: {
              epochs: 3,
              batchSize: 64,
              optimizer: { type: 'sgd', lr: 0.05 },
              schedule: { type: 'step', stepSize: 1, gamma: 1e38 },
            },
          },
        },
        { engine, onEvent: (event) => event.event === 'epoch' && events.push(`epoch ${event.epoch}`) },
      ),
    );
    expect(error).toBeInstanceOf(TrainingDivergedError);
    const diverged = error as TrainingDivergedError;
    expect(diverged.epoch).toBe(2);
    expect(diverged.step).toBeGreaterThanOrEqual(1);
    expect(diverged.message).toMatch(
      /^TrainingDivergedError: teacher: the (loss became (nan|inf|-inf)|weights became NaN or infinite) at epoch 2, step \d+; lower the learning rate/,
    );
    expect(events).toEqual(['epoch 1']);
    const stateFile = path.join(outDir, 'checkpoints', 'teacher.state.pt');
    expect(diverged.details.stateFile).toBe(stateFile);
    expect(diverged.details.lastGoodEpoch).toBe(1);
    const saved = execFileSync(PYTHON, [
      '-c',
      'import sys, torch; s = torch.load(sys.argv[1], weights_only=True); print(s["epoch"], all(bool(v.isfinite().all()) for v in s["model"].values()))',
      stateFile,
    ])
      .toString()
      .trim();
    expect(saved).toBe('1 True');
    expect(fs.existsSync(path.join(outDir, 'checkpoints', 'teacher.pt'))).toBe(false);
    expect(artefacts(outDir)).toEqual([path.join('checkpoints', 'teacher.state.pt')]); // only the last good state: no model, no .onnx
    expect(engine.isOpen).toBe(true);
  });
});

// ------------------------------------------------------------------ security: names cannot leave the output folder

describe('outputs stay under the output folder', () => {
  test("a student named '../x' is refused before anything is written or started", async () => {
    const folder = tempDir('errors-names');
    const outDir = path.join(folder, 'out');
    const pids = enginePids();
    const experiment = tinyExperiment();
    (experiment.students as Record<string, unknown>[])[0]!.name = '../x';
    const error = (await rejection(run(experiment as never, { outDir }))) as ConfigError;
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.field).toBe('students[0].name');
    expect(error.message).toContain(
      'expected 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit (it names output files)',
    );
    const viaDistill = (await rejection(
      distill({ data: tinyData, outDir, student: { name: '../x', model: mlp, method: { type: 'hard-labels' } } }),
    )) as ConfigError;
    expect(viaDistill.field).toBe('student.name');
    const teacherName = (await rejection(
      trainTeacher({ data: tinyData, outDir, teacher: { type: 'train', name: '/etc/passwd', model: mlp } }),
    )) as ConfigError;
    expect(teacherName.field).toBe('teacher.name');
    expect(fs.readdirSync(folder)).toEqual([]);
    expect(enginePids()).toEqual(pids);
  });

  test('run() failing in Python closes the engine it started: no orphan process, no model written', async () => {
    const outDir = path.join(tempDir('errors-run'), 'out');
    const pids = enginePids();
    const missing = path.join(outDir, '..', 'missing.npz');
    const error = await rejection(
      run(tinyExperiment({ data: { train: { type: 'file', path: missing }, test: tinyData.test } }) as never, {
        outDir,
      }),
    );
    expect(error).toBeInstanceOf(PythonError);
    expect(error).toMatchObject({ pythonType: 'DataError', field: 'data.train.path', file: path.resolve(missing) });
    expect(enginePids()).toEqual(pids);
    expect(artefacts(outDir)).toEqual([]);
  });
});
