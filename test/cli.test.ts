import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import { CLI, ROOT, enginePids, tempDir, tinyExperiment, writeJson } from './support/tiny';

function cli(
  args: string[],
  options: { cwd?: string } = {},
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    cwd: options.cwd ?? ROOT,
    encoding: 'utf8',
    timeout: 180_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('distillery run', () => {
  const folder = tempDir('cli');
  const outDir = path.join(folder, 'out');
  let report: Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- report.json, asserted field by field
  let stdout = '';
  let enginesBefore: number[] = [];

  beforeAll(() => {
    enginesBefore = enginePids(); // other test runs on this machine may hold engines of their own
    const file = writeJson(path.join(folder, 'tiny.json'), tinyExperiment());
    const result = cli(['run', file, '--out', outDir, '--json']);
    expect(result.stderr).not.toMatch(/^error/m);
    expect(result.status).toBe(0);
    stdout = result.stdout;
    report = JSON.parse(stdout);
  });

  test('--json prints report.json to stdout and nothing else', () => {
    expect(stdout.trim().startsWith('{')).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8'))).toEqual(report);
  });

  test('the report has every top-level field', () => {
    expect(report).toMatchObject({ name: 'tiny', device: 'cpu', seed: 0 });
    expect(report.torch).toMatch(/^2\./);
    expect(report.durationSeconds).toBeGreaterThan(0);
    // mimic's architecture has no labels-trained student: one is added for its verdict (evaluate.baselines)
    expect(report.students.map((s: { name: string }) => s.name)).toEqual(['hard', 'soft', 'mimic', 'mimic-labels']);
    expect(report.sweeps).toEqual([]);
  });

  test('every model has name, method, size, cost, test metrics, latency and training time', () => {
    for (const model of [report.teacher, ...report.students]) {
      expect(typeof model.name).toBe('string');
      expect(model.params).toBeGreaterThan(0);
      expect(model.flopsPerSample).toBeGreaterThan(0);
      expect(fs.statSync(path.join(outDir, model.onnx)).size).toBe(model.sizeBytes);
      expect(model.test.n).toBe(200);
      expect(model.test.accuracy).toBeGreaterThan(0.5); // chance is 0.1: every model learnt
      expect(model.test.errors).toBe(Math.round(200 * (1 - model.test.accuracy)));
      expect(model.test.nll).toBeGreaterThan(0);
      expect(model.test.ece).toBeGreaterThanOrEqual(0);
      expect(model.latency.batch1P50Ms).toBeGreaterThan(0);
      expect(model.latency.batch256RowsPerS).toBeGreaterThan(0);
      expect(model.trainSeconds).toBeGreaterThan(0);
      expect(model.parityMaxAbsDiff).toBeLessThanOrEqual(1e-4);
    }
    expect(report.teacher.method).toBeNull();
    expect(report.students[1].method).toEqual({
      type: 'soft-targets',
      temperature: 4,
      alpha: 0.7,
      standardizeLogits: false,
    });
    for (const student of report.students) {
      expect(student.agreementWithTeacher).toBeGreaterThan(0.3);
      expect(student.agreementWithTeacher).toBeLessThanOrEqual(1);
    }
    // The verdict: each distilled student against the labels-trained student of its architecture, on the same 200 digits.
    const [hard, soft, mimic, mimicLabels] = report.students;
    expect(hard.verdict).toBeUndefined();
    expect(soft.verdict).toMatchObject({
      baseline: 'hard',
      test: 'mcnemar-exact',
      errorsDelta: soft.test.errors - hard.test.errors,
    });
    expect(soft.verdict.studentBetter - soft.verdict.baselineBetter).toBe(hard.test.errors - soft.test.errors);
    expect(mimic.verdict.baseline).toBe('mimic-labels');
    expect(mimicLabels.method).toEqual({ type: 'hard-labels' });
    // The bottleneck student: 784*8 (no bias) + 8*64+64 + 64*10+10 weights.
    expect(report.students[2].params).toBe(784 * 8 + 8 * 64 + 64 + 64 * 10 + 10);
  });

  test('writes report.md with the table and the command, charts, and the resolved config', () => {
    const markdown = fs.readFileSync(path.join(outDir, 'report.md'), 'utf8');
    expect(markdown).toContain('| model | method | test acc |');
    expect(markdown).toContain('| soft | soft-targets T=4 α=0.7 |');
    expect(markdown).toContain(`distillery run`);
    expect(markdown).toContain('![learning curves](learning-curves.svg)');
    expect(markdown).toContain('![accuracy against latency and size](accuracy-frontier.svg)');
    expect(markdown).toMatch(
      /- \*\*soft\*\* vs \*\*hard\*\* \(labels, same architecture\): (distillation helped|distillation did not help|no significant difference)/,
    );
    expect(fs.readFileSync(path.join(outDir, 'accuracy-frontier.svg'), 'utf8')).toMatch(/^<svg[\s\S]*Pareto front/);
    for (const svg of ['learning-curves.svg', 'confusion-matrix.svg']) {
      expect(fs.readFileSync(path.join(outDir, svg), 'utf8')).toMatch(/^<svg[^>]*>/);
    }
    const resolved = JSON.parse(fs.readFileSync(path.join(outDir, 'resolved-config.json'), 'utf8'));
    expect(resolved.students[0].training.optimizer).toEqual({ type: 'adam', lr: 0.003 });
  });

  test('leaves no temporary files and no Python process', () => {
    const names = fs.readdirSync(outDir, { recursive: true }).map(String);
    expect(names.filter((name) => name.includes('.tmp-'))).toEqual([]);
    expect(enginePids().filter((pid) => !enginesBefore.includes(pid))).toEqual([]);
  });
});

describe('distillery run: failures', () => {
  test('a bad config names the path and exits 2 without starting Python', () => {
    const folder = tempDir('cli-bad');
    const experiment = tinyExperiment();
    (experiment.students as Record<string, unknown>[])[1]!.method = { type: 'soft-targets', temperature: 0 };
    const result = cli([
      'run',
      writeJson(path.join(folder, 'bad.json'), experiment),
      '--out',
      path.join(folder, 'out'),
    ]);
    expect(result.status).toBe(2);
    expect(result.stderr).toContain('students[1].method.temperature: expected a number > 0');
    expect(fs.existsSync(path.join(folder, 'out'))).toBe(false);
  });

  test('Ctrl-C stops cleanly: exit 130, no Python process, no partial .onnx, and --resume finishes the run', async () => {
    const folder = tempDir('cli-interrupt');
    const outDir = path.join(folder, 'out');
    const experiment = tinyExperiment({ evaluate: { benchmark: false } });
    const students = experiment.students as { training: Record<string, unknown> }[];
    students[0]!.training = { ...students[0]!.training, epochs: 40 }; // long enough to interrupt, short enough to resume
    const file = writeJson(path.join(folder, 'long.json'), experiment);
    const before = enginePids();
    const child = spawn(process.execPath, [CLI, 'run', file, '--out', outDir], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stderr = '';
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (stderr.includes('[student hard] epoch 2/')) resolve();
      });
    });
    child.kill('SIGINT');
    expect(await exit).toBe(130);
    expect(stderr).toContain('--resume');
    expect(enginePids().filter((pid) => !before.includes(pid))).toEqual([]);
    const files = fs.readdirSync(outDir, { recursive: true }).map(String);
    expect(files.filter((name) => name.includes('.tmp-'))).toEqual([]);
    expect(files.filter((name) => name.endsWith('.onnx')).sort()).toEqual(['teacher.onnx']);
    expect(fs.existsSync(path.join(outDir, 'report.json'))).toBe(false);

    // Resume (the same config: a changed one is refused): the teacher is kept, and the interrupted student continues
    // from its last epoch checkpoint.
    const resumed = cli(['run', file, '--out', outDir, '--resume']);
    expect(resumed.status).toBe(0);
    expect(resumed.stderr).toContain('teacher: already finished, kept');
    expect(fs.existsSync(path.join(outDir, 'report.json'))).toBe(true);
  });
});

describe('other commands', () => {
  const models = path.join(ROOT, 'test', 'fixtures');

  test('schema prints a valid JSON Schema that accepts the examples', () => {
    const result = cli(['schema']);
    expect(result.status).toBe(0);
    const schema = JSON.parse(result.stdout);
    const ajv = new Ajv2020({ strict: false });
    const validate = ajv.compile(schema);
    for (const example of fs.readdirSync(path.join(ROOT, 'examples')).filter((f) => f.endsWith('.json'))) {
      const valid = validate(JSON.parse(fs.readFileSync(path.join(ROOT, 'examples', example), 'utf8')));
      expect([example, valid, validate.errors]).toEqual([example, true, null]);
    }
    expect(validate({ teacher: {}, students: [] })).toBe(false);
  });

  test('eval, bench and predict run an ONNX model without Python', () => {
    const model = path.join(models, 'iris_student.onnx');
    const evaluation = cli(['eval', model, '--data', path.join(models, 'iris.npz'), '--json']);
    expect(evaluation.status).toBe(0);
    expect(JSON.parse(evaluation.stdout)).toMatchObject({ task: 'classification', samples: expect.any(Number) });
    const bench = cli(['bench', model, '--batch', '1,8', '--json']);
    expect(bench.status).toBe(0);
    expect(JSON.parse(bench.stdout).throughput.map((t: { batchSize: number }) => t.batchSize)).toEqual([1, 8]);
    const predict = cli(['predict', model, path.join(models, 'iris_x.npy')]);
    expect(predict.status).toBe(0);
    expect(predict.stdout.split('\n')[0]).toMatch(/^0: \S+ \(\d+\.\d%\)$/);
  });

  test('a missing model file is a clear error, exit 1', () => {
    const result = cli(['bench', '/nonexistent/model.onnx']);
    expect(result.status).toBe(1);
    expect(result.stderr).toContain('/nonexistent/model.onnx');
  });

  test('doctor reports the environment as JSON', () => {
    const result = cli(['doctor', '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.torch).toMatch(/^2\./);
    expect(report.onnx).toBeTruthy();
    expect(report.onnxruntimeNode).toBeTruthy();
    expect(report.problems).toEqual([]);
  });

  test("setup says where the engine's Python environment is, as JSON", () => {
    const result = cli(['setup', '--json']);
    expect(result.status).toBe(0);
    const report = JSON.parse(result.stdout);
    expect(report.packages.torch).toMatch(/^2\./);
    expect(report.problems).toEqual([]);
    if (!process.env.DISTILLERY_PYTHON) {
      expect(path.dirname(report.environment)).toBe(report.home);
      expect(path.basename(report.environment)).toMatch(/^python-[0-9a-f]{12}$/);
      expect(report.python.startsWith(report.environment)).toBe(true);
    }
  });

  test('every command has --help', () => {
    for (const command of ['run', 'eval', 'bench', 'predict', 'serve', 'setup', 'doctor', 'schema']) {
      const result = cli([command, '--help']);
      expect([command, result.status]).toEqual([command, 0]);
      expect(result.stdout).toContain(`Usage: distillery ${command}`);
    }
  });
});
