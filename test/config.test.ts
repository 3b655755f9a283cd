import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, experimentJsonSchema, loadExperimentFile, parseExperiment } from '../src/config';
import { configReferenceMarkdown } from '../src/config/reference';
import { TrainTeacherRequest } from '../src/engine/commands';
import { tempDir } from './support/tiny';

const minimal = {
  teacher: { type: 'train', model: { type: 'mlp', hidden: [16] } },
  students: [{ name: 'student', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' } }],
};

function issuesFor(value: unknown): string[] {
  try {
    parseExperiment(value);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues.map((issue) => `${issue.path}: ${issue.message}`);
  }
  throw new Error('expected a ConfigError');
}

describe('experiment schema', () => {
  test('fills every default, so the engine never guesses one', () => {
    const experiment = parseExperiment(minimal);
    expect(experiment.name).toBe('experiment');
    expect(experiment.device).toBe('auto');
    expect(experiment.data.train).toEqual({ type: 'mnist', split: 'train', offset: 0, labelled: true });
    expect(experiment.data.normalize).toBe('standard');
    expect(experiment.students[0]!.method).toEqual({
      type: 'soft-targets',
      temperature: 20,
      alpha: 0.9,
      standardizeLogits: false,
    });
    expect(experiment.students[0]!.training.optimizer).toEqual({ type: 'adam', lr: 1e-3 });
    expect(experiment.export).toEqual({ opset: 18, parityTolerance: 1e-4, quantize: [], maxAccuracyDrop: 0.5 });
  });

  test("a trained teacher's defaults are worth distilling; the students' stay as they were", () => {
    const withValidation = parseExperiment({ ...minimal, data: { validation: { type: 'split', fraction: 0.1 } } });
    const teacher = withValidation.teacher.type === 'train' ? withValidation.teacher.training : undefined;
    expect(teacher?.schedule).toEqual({ type: 'cosine', warmupEpochs: 0 }); // a decaying learning rate
    expect(teacher?.augment).toBe('auto'); // crops for images, flips for colour ones (python/distillery/augment.py)
    expect(teacher?.checkpoint).toBe('best'); // 'auto', resolved while parsing: the best epoch on validation
    const student = withValidation.students[0]!.training;
    expect([student.schedule, student.augment, student.checkpoint]).toEqual([
      { type: 'constant', warmupEpochs: 0 },
      undefined,
      'last',
    ]);
    const without = parseExperiment(minimal);
    expect(without.teacher.type === 'train' && without.teacher.training.checkpoint).toBe('last'); // nothing to choose on
  });

  test("explicit teacher settings win over the teacher's defaults, in ensemble members too", () => {
    const explicit = { schedule: { type: 'constant' }, augment: {}, checkpoint: 'last' };
    const experiment = parseExperiment({
      ...minimal,
      data: { validation: { type: 'split', fraction: 0.1 } },
      teacher: {
        type: 'ensemble',
        members: [
          { type: 'train', model: { type: 'mlp' }, training: explicit },
          { type: 'train', model: { type: 'mlp' } },
        ],
      },
    });
    const members = experiment.teacher.type === 'ensemble' ? experiment.teacher.members : [];
    const trainings = members.map((member) => (member.type === 'train' ? member.training : undefined));
    expect(trainings[0]).toMatchObject({ schedule: { type: 'constant' }, checkpoint: 'last' });
    expect(trainings[0]?.augment).toEqual({ shift: 0, flip: false, noise: 0, mixup: 0, cutmix: 0 });
    expect(trainings[1]).toMatchObject({ schedule: { type: 'cosine' }, augment: 'auto', checkpoint: 'best' });
  });

  test("the engine's requests resolve the teacher's checkpoint too, so Python never sees 'auto'", () => {
    const request = TrainTeacherRequest.parse({ outDir: 'out', teacher: minimal.teacher });
    expect(request.teacher.type === 'train' && request.teacher.training.checkpoint).toBe('last');
    const withValidation = TrainTeacherRequest.parse({
      outDir: 'out',
      data: { validation: { type: 'split', fraction: 0.2 } },
      teacher: minimal.teacher,
    });
    expect(withValidation.teacher.type === 'train' && withValidation.teacher.training.checkpoint).toBe('best');
  });

  test('errors name the path and what was expected', () => {
    const bad = {
      ...minimal,
      students: [
        minimal.students[0],
        { name: 'hot', model: { type: 'mlp' }, method: { type: 'soft-targets', temperature: -1 } },
      ],
    };
    expect(issuesFor(bad)).toEqual(['students[1].method.temperature: expected a number > 0']);
  });

  test('unknown keys are errors, at every depth', () => {
    expect(issuesFor({ ...minimal, colour: 'blue' })).toEqual(['colour: unknown key']);
    expect(issuesFor({ ...minimal, teacher: { type: 'train', model: { type: 'mlp', widths: [3] } } })).toEqual([
      'teacher.model.widths: unknown key',
    ]);
  });

  test('an unknown discriminator names the field and the choices', () => {
    const [issue] = issuesFor({ ...minimal, students: [{ ...minimal.students[0], method: { type: 'magic' } }] });
    expect(issue).toMatch(/^students\[0\]\.method\.type: /);
    expect(issue).toContain('soft-targets');
  });

  test.each([
    [{ epochs: 0 }, 'students[0].training.epochs: expected a number of epochs > 0'],
    [{ epochs: 1.5 }, 'students[0].training.epochs: expected a number of epochs > 0'],
    [{ batchSize: -4 }, 'students[0].training.batchSize: expected a batch size > 0'],
    [{ optimizer: { type: 'sgd', lr: Number.NaN } }, 'students[0].training.optimizer.lr: expected a learning rate > 0'],
    [{ weightDecay: -1 }, 'students[0].training.weightDecay: expected a weight decay >= 0'],
  ])('training %j is rejected', (training, message) => {
    expect(issuesFor({ ...minimal, students: [{ ...minimal.students[0], training }] })).toEqual([message]);
  });

  test('names must be unique and safe as file names', () => {
    expect(issuesFor({ ...minimal, students: [{ ...minimal.students[0], name: 'teacher' }] })).toEqual([
      'students[0].name: "teacher" is already used by teacher.name',
    ]);
    expect(issuesFor({ ...minimal, students: [{ ...minimal.students[0], name: '../escape' }] })[0]).toMatch(
      /^students\[0\]\.name: expected 1-64 letters/,
    );
  });

  test('relative paths resolve against the experiment file, YAML included', () => {
    const folder = tempDir('config');
    const file = path.join(folder, 'exp.yaml');
    fs.writeFileSync(
      file,
      [
        'data:',
        '  train: { type: file, path: data/train.npz }',
        'teacher: { type: checkpoint, path: ../teachers/t.pt }',
        'students:',
        '  - { name: s, model: { type: mlp }, method: { type: logit-regression } }',
      ].join('\n'),
    );
    const experiment = loadExperimentFile(file);
    expect(experiment.data.train).toMatchObject({ type: 'file', path: path.join(folder, 'data', 'train.npz') });
    expect(experiment.teacher).toMatchObject({
      type: 'checkpoint',
      path: path.join(path.dirname(folder), 'teachers', 't.pt'),
    });
  });

  test('a malformed file names the file', () => {
    const file = path.join(tempDir('config'), 'broken.json');
    fs.writeFileSync(file, '{ "teacher": ');
    expect(() => loadExperimentFile(file)).toThrow(/broken\.json[\s\S]*not valid JSON/);
  });

  test('the JSON Schema is generated from zod and describes the same fields', () => {
    const schema = experimentJsonSchema() as {
      $schema: string;
      properties: Record<string, unknown>;
      required: string[];
    };
    expect(schema.$schema).toContain('json-schema.org');
    expect(Object.keys(schema.properties)).toEqual(
      expect.arrayContaining(['name', 'seed', 'device', 'data', 'teacher', 'students', 'export', 'evaluate']),
    );
    expect(schema.required).toEqual(expect.arrayContaining(['teacher', 'students']));
    expect(JSON.stringify(schema)).toContain('soft-targets');
  });

  test('docs/CONFIG.md and docs/experiment.schema.json are current (regenerate with `npm run docs`)', () => {
    const docs = path.join(__dirname, '..', 'docs');
    expect(fs.readFileSync(path.join(docs, 'CONFIG.md'), 'utf8').trim()).toBe(configReferenceMarkdown().trim());
    expect(JSON.parse(fs.readFileSync(path.join(docs, 'experiment.schema.json'), 'utf8'))).toEqual(
      experimentJsonSchema(),
    );
  });

  test('every example experiment file (JSON and YAML) is valid', () => {
    const examples = path.join(__dirname, '..', 'examples');
    const files = fs.readdirSync(examples).filter((file) => /\.(json|ya?ml)$/.test(file));
    expect(files.length).toBeGreaterThanOrEqual(9);
    for (const file of files) {
      const experiment = loadExperimentFile(path.join(examples, file));
      expect([file, experiment.students.length > 0]).toEqual([file, true]);
    }
  });

  test('shards: files resolved against the experiment folder, one label file per shard, for training data only', () => {
    const shards = { type: 'shards', x: ['big/x-0.npy', 'big/x-1.npy'], y: ['big/y-0.npy', 'big/y-1.npy'] };
    const experiment = parseExperiment({ ...minimal, data: { train: shards } }, { baseDir: '/data/exp' });
    expect(experiment.data.train).toEqual({
      type: 'shards',
      x: ['/data/exp/big/x-0.npy', '/data/exp/big/x-1.npy'],
      y: ['/data/exp/big/y-0.npy', '/data/exp/big/y-1.npy'],
      offset: 0,
      labelled: true,
    });
    expect(
      parseExperiment({ ...minimal, data: { transfer: { type: 'shards', x: ['u.npy'] } } }).data.transfer,
    ).toMatchObject({ x: [path.resolve('u.npy')] });
    expect(issuesFor({ ...minimal, data: { train: { ...shards, y: ['big/y-0.npy'] } } })).toEqual([
      'data.train.y: expected one label file per input shard',
    ]);
    expect(issuesFor({ ...minimal, data: { train: { type: 'shards', x: [] } } })).toEqual([
      'data.train.x: expected at least one .npy file',
    ]);
    const [test] = issuesFor({ ...minimal, data: { test: shards } });
    expect(test).toMatch(/^data\.test\.type: /); // the test split is read whole, for the runtime's evaluation
  });
});
