/**
 * The TypeScript–Python contract: zod schemas on one side, python/distillery/spec.py on the other.
 * - the files generated from the zod schemas for Python are current;
 * - every example experiment, as zod completes it, parses in Python;
 * - every engine command's result passes its zod result schema (Engine.call validates each one);
 * - a method's needs-a-teacher rule is read from its schema entry.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadExperimentFile, methodTraits } from '../src/config';
import { distill } from '../src/facade';
import * as methods from '../src/config/methods';
import { planStudents } from '../src/config/sweep';
import * as schema from '../src/config/schema';
import { COMMANDS, EngineData, checked } from '../src/engine/commands';
import { Engine, EngineContractError, resolveInterpreter } from '../src/engine';
import { ROOT, tempDir, tinyData, writeJson } from './support/tiny';
import { closeIfOpened } from './support/hooks';
import { isCalledTeacher } from '../src/teacher/label';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const contract = require('../scripts/contract.js') as {
  contractFiles: (modules: { schema: unknown; methods: unknown; commands: unknown }) => Record<string, string>;
};

const EXAMPLES = fs
  .readdirSync(path.join(ROOT, 'examples'))
  .filter((name) => /\.(json|ya?ml)$/.test(name))
  .map((name) => path.join(ROOT, 'examples', name));

async function pythonParses(files: string[]): Promise<{ status: number | null; output: string }> {
  const script = [
    'import json, sys',
    'from distillery.spec import ExperimentRequest, parse',
    'for file in sys.argv[1:]:',
    '    with open(file) as handle:',
    '        parse(ExperimentRequest, json.load(handle))',
    'print("parsed", len(sys.argv) - 1)',
  ].join('\n');
  const env = { ...process.env, PYTHONPATH: path.join(ROOT, 'python'), PYTHONDONTWRITEBYTECODE: '1' };
  const result = spawnSync(await resolveInterpreter(), ['-c', script, ...files], { env, encoding: 'utf8' });
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

describe('generated contract files', () => {
  test.each(Object.entries(contract.contractFiles({ schema, methods, commands: { EngineData } })))(
    '%s is current (npm run docs)',
    (file, contents) => {
      expect(fs.readFileSync(path.join(ROOT, file), 'utf8')).toBe(contents);
    },
  );
});

describe('requests: zod completes them, Python parses them', () => {
  test('every example experiment, with every default zod fills, parses in Python', async () => {
    expect(EXAMPLES.length).toBeGreaterThanOrEqual(10);
    const dir = tempDir('contract-examples');
    // Image and table sources (and an augmented text transfer set) are encoded in TypeScript (src/data) into .npz
    // files before the engine sees them: the engine's request holds the file sources prepareData gives (their data
    // need not exist to be parsed).
    const encoded = (source: unknown): unknown => {
      const typed = source as { type?: string; labelled?: boolean } | undefined;
      if (typed?.type !== 'images' && typed?.type !== 'csv' && typed?.type !== 'augment') return source;
      return {
        type: 'file',
        path: path.join(dir, 'encoded.npz'),
        x: 'x',
        y: 'y',
        offset: 0,
        labelled: typed.labelled ?? true,
      };
    };
    const files = EXAMPLES.map((example, index) => {
      const experiment = loadExperimentFile(example);
      const data = Object.fromEntries(Object.entries(experiment.data).map(([key, value]) => [key, encoded(value)]));
      // as run() sends it: sweeps and auto expanded into named candidates, the verdict's baselines added
      const { sweep: _sweep, ...engineConfig } = experiment;
      const students = planStudents(experiment).students;
      // A teacher you call reaches the engine as its answers (src/teacher/label.ts): a precomputed teacher, and
      // data.teacherOutputs beside the data.
      const called = isCalledTeacher(experiment.teacher);
      const request = COMMANDS.run_experiment.request.parse({
        ...engineConfig,
        ...(called
          ? {
              teacher: {
                type: 'precomputed',
                name: experiment.teacher.name,
                kind: 'logits',
                source: 'the example',
                sha256: '0'.repeat(64),
              },
            }
          : {}),
        students,
        data: {
          ...data,
          preprocess: null,
          ...(called ? { teacherOutputs: { train: path.join(dir, 'teacher-train.npy') } } : {}),
        },
        outDir: dir,
      });
      return writeJson(path.join(dir, `${index}.json`), request);
    });
    const result = await pythonParses(files);
    expect(result.output).toContain(`parsed ${EXAMPLES.length}`);
    expect(result.status).toBe(0);
  });

  test('Python refuses a request that lacks a key zod fills, naming it', async () => {
    const dir = tempDir('contract-missing');
    const demo = loadExperimentFile(path.join(ROOT, 'examples', 'demo.json'));
    const request = COMMANDS.run_experiment.request.parse({
      ...demo,
      data: { ...demo.data, preprocess: null },
      outDir: dir,
    });
    const students = request.students.map((student, index) => {
      if (index !== 1) return student;
      const { temperature: _dropped, ...method } = student.method as Record<string, unknown>;
      return { ...student, method };
    });
    const result = await pythonParses([writeJson(path.join(dir, 'missing.json'), { ...request, students })]);
    expect(result.status).not.toBe(0);
    expect(result.output).toContain('students[1].method.temperature: missing');
  });
});

describe('methods: the rule lives in the schema entry', () => {
  test('needs-a-teacher and needs-labels are read from each method schema', () => {
    expect(methodTraits('soft-targets')).toMatchObject({ needsTeacher: true, needsLabels: false });
    expect(methodTraits('hard-labels')).toMatchObject({ needsTeacher: false, needsLabels: true });
    expect(() => methodTraits('no-such-method')).toThrow(/unknown method/);
  });

  test('distill() refuses a method that needs a teacher when none is given, naming the field, before Python starts', async () => {
    const error = await distill({
      outDir: tempDir('contract-no-teacher'),
      student: { name: 'soft', model: { type: 'mlp' }, method: { type: 'dist' } },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe('teacher');
    expect((error as ConfigError).message).toContain("the 'dist' method needs a teacher checkpoint");
  });

  test('a teacher may only use the methods that need no teacher', () => {
    const teacherMethods = methods.TeacherMethod.options.map((option) => option.shape.type.value).sort();
    const noTeacher = methods.METHODS.map((option) => option.shape.type.value)
      .filter((name) => !methodTraits(name).needsTeacher)
      .sort();
    expect(teacherMethods).toEqual(noTeacher);
  });
});

describe('results: every command answers in its zod result schema', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(() => closeIfOpened(engine));

  test('hello, doctor, write_split, train_teacher, distill, export and run_experiment', async () => {
    const outDir = tempDir('contract-results');
    const data = { train: { ...tinyData.train, limit: 200 }, test: { ...tinyData.test, limit: 50 } };
    const training = { epochs: 1, batchSize: 64 };
    expect((await engine.call('hello', {})).pid).toBe(engine.pid);
    const doctor = await engine.call('doctor', {});
    expect(doctor.methods.sort()).toEqual(Object.keys(methods.methodContract()).sort());
    expect((await engine.call('write_split', { data, split: 'test', path: path.join(outDir, 'test.npz') })).n).toBe(50);
    const teacher = await engine.call('train_teacher', {
      data,
      outDir,
      device: 'cpu',
      teacher: { type: 'train', model: { type: 'mlp', hidden: [16] }, training },
    });
    expect(teacher.onnx).toBe(path.join(outDir, 'teacher.onnx'));
    const student = await engine.call('distill', {
      data,
      outDir,
      device: 'cpu',
      teacher: teacher.checkpoint,
      export: false,
      student: { name: 'student', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' }, training },
    });
    expect(student.teacher?.sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(student.onnx).toBeNull();
    const exported = await engine.call('export', {
      checkpoint: student.checkpoint,
      path: path.join(outDir, 'student.onnx'),
      data,
    });
    expect(exported.opset).toBe(18);
    const experiment = await engine.call('run_experiment', {
      device: 'cpu',
      data,
      teacher: { type: 'train', model: { type: 'mlp', hidden: [16] }, training },
      students: [{ name: 'hard', model: { type: 'mlp', hidden: [8] }, method: { type: 'hard-labels' }, training }],
      outDir: path.join(outDir, 'experiment'),
    });
    expect(experiment.students.map((s) => s.history[0]?.terms)).toEqual([{ hard: expect.any(Number) }]);

    // A result that drifted (v0.1's metric name, a key TypeScript does not know) is refused, naming the path.
    const drifted = { ...student, metrics: { ...student.metrics, testLoss: 0.5 } };
    expect(() => checked(COMMANDS.distill.result, drifted, "the 'distill' result")).toThrow(EngineContractError);
    expect(() => checked(COMMANDS.distill.result, drifted, "the 'distill' result")).toThrow(
      /metrics: Unrecognized key: "testLoss"/,
    );
  });

  test('fit_tokenizer: trained on JSONL texts, then a user file checked and copied', async () => {
    const dir = tempDir('contract-tokenizer');
    const textsPath = path.join(dir, 'texts.jsonl');
    const texts = ['a good film', 'a bad film\nwith a newline', 'good good good', null];
    fs.writeFileSync(textsPath, texts.map((text) => JSON.stringify(text)).join('\n') + '\n');
    const options = { vocabSize: 60, lowercase: true, minFrequency: 1 };
    const trained = await engine.fitTokenizer({
      kind: 'wordpiece',
      textsPath,
      outPath: path.join(dir, 'tokenizer.json'),
      ...options,
    });
    expect(trained).toMatchObject({ padId: 0, unkId: 1, model: 'WordPiece' });
    const copied = await engine.fitTokenizer({
      kind: 'file',
      file: trained.path,
      outPath: path.join(dir, 'copy.json'),
      ...options,
    });
    expect(copied.sha256).toBe(trained.sha256);
  });
});
