/**
 * A teacher you call (issue 28), end to end: a teacher trained here, served behind a local HTTP server, called as a
 * function teacher (and as a module from the CLI, and read back from a file of its outputs). The students equal the
 * one distilled from the same teacher in-process; faults, timeouts, bad answers and a SIGKILL half-way are survived
 * or named; the cache answers a repeated or resumed run without a call.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  ConfigError,
  Engine,
  RetryableError,
  TeacherCallError,
  TeacherModuleError,
  TeacherOutputError,
  distill,
  run,
  trainTeacher,
  type DistillInput,
  type TeacherAnswer,
  type TeacherFunction,
} from '../src';
import { OnnxModel, loadDataset } from '../src/runtime';
import { npyBytes } from '../src/io/npy';
import { TeacherTimeoutError } from '../src/teacher/schedule';
import { serveTeacher, type HttpTeacher } from './support/http-teacher';
import { CLI, ROOT, tempDir, tinyData, writeJson } from './support/tiny';

const training = { epochs: 3, batchSize: 32, optimizer: { type: 'adam' as const, lr: 0.003 } };
const soft: {
  name: string;
  model: { type: 'mlp'; hidden: number[] };
  method: DistillInput['student']['method'];
  training: typeof training;
} = {
  name: 'soft',
  model: { type: 'mlp', hidden: [16] },
  method: { type: 'soft-targets', temperature: 4, alpha: 0.7 },
  training,
};
const ROWS = 600 + 200; // tinyData: train and test

/** A function teacher that POSTs its rows to the server; a 503 is worth retrying, any other failure is not. */
function httpTeacher(url: string): TeacherFunction {
  return async (inputs, { signal }) => {
    const rows = inputs.map((input) => Array.from(input as Float32Array));
    const response = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ rows }),
      signal,
    });
    if (response.status === 503) throw new RetryableError(`HTTP 503 from ${url}`);
    if (!response.ok) throw new Error(`HTTP ${response.status} from ${url}`);
    return ((await response.json()) as { logits: number[][] }).logits;
  };
}

/** The test rows as the engine reads them (write_split), for comparing students. */
let testRows = '';

/** Every probability of a model on the test rows, row-major. */
async function testProbabilities(onnx: string): Promise<number[]> {
  const model = await OnnxModel.load(onnx);
  try {
    const dataset = await loadDataset(testRows);
    const width = dataset.sampleShape.reduce((a, b) => a * b, 1);
    const rows = Array.from({ length: dataset.size }, (_, i) =>
      Float32Array.from(dataset.x.subarray(i * width, (i + 1) * width)),
    );
    return (await model.predictBatch(rows)).flatMap((prediction) =>
      prediction.task === 'classification' ? prediction.probabilities : [],
    );
  } finally {
    await model.close();
  }
}

/** `distillery run …` as a child process, awaited without blocking this process's event loop. */
function cliRun(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [CLI, 'run', ...args], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })));
}

function maxAbsDifference(a: readonly number[], b: readonly number[]): number {
  expect(a).toHaveLength(b.length);
  return a.reduce((worst, value, i) => Math.max(worst, Math.abs(value - (b[i] ?? NaN))), 0);
}

describe('a teacher you call', () => {
  const folder = tempDir('called');
  const cache = path.join(folder, 'cache');
  let engine: Engine;
  let teacherOnnx = '';
  let teacherCheckpoint = '';
  let server: HttpTeacher;
  let inProcess: number[] = [];
  let called: number[] = [];

  const distillWith = (outDir: string, teacher: DistillInput['teacher']) =>
    distill(
      { data: { ...tinyData, test: { ...tinyData.test } }, device: 'cpu', outDir, teacher, student: soft },
      { engine },
    );

  beforeAll(async () => {
    engine = await Engine.start();
    const teacher = await trainTeacher(
      {
        data: tinyData,
        device: 'cpu',
        outDir: path.join(folder, 'teacher'),
        teacher: { type: 'train', model: { type: 'mlp', hidden: [64] }, training },
      },
      { engine },
    );
    teacherCheckpoint = teacher.checkpoint;
    teacherOnnx = teacher.onnx!;
    server = await serveTeacher(teacherOnnx);
    testRows = path.join(folder, 'test-rows.npz');
    await engine.call('write_split', { data: tinyData, split: 'test', path: testRows });
  });
  afterAll(async () => {
    await server.close();
    await engine.close();
  });

  test('served over HTTP and called as a function, it distils the student the checkpoint does, up to float rounding', async () => {
    const local = await distillWith(path.join(folder, 'in-process'), teacherCheckpoint);
    const localOnnx = await distillWith(path.join(folder, 'in-process-onnx'), { type: 'onnx', path: teacherOnnx });
    const remote = await distillWith(path.join(folder, 'function'), {
      type: 'function',
      id: 'http mlp-64',
      call: httpTeacher(server.url),
      kind: 'logits',
      cache,
    });
    inProcess = await testProbabilities(local.onnx!);
    called = await testProbabilities(remote.onnx!);
    // The same graph run by onnxruntime in the engine (an ONNX teacher) gives the same logits as the server's
    // onnxruntime-node, bit for bit: the same student, exactly.
    expect(await testProbabilities(localOnnx.onnx!)).toEqual(called);
    // The checkpoint's logits are torch's, which the export matches to ~1e-6 (its parity check): three epochs of Adam
    // carry that rounding into the student's probabilities, a few thousandths at most — float rounding, not learning.
    expect(maxAbsDifference(inProcess, called)).toBeLessThan(2e-2);
    expect(remote.labelling).toMatchObject({
      source: 'function http mlp-64',
      kind: 'logits',
      kindFrom: 'declared',
      splits: [
        { split: 'train', rows: 600, cached: 0, called: 600 },
        { split: 'test', rows: 200, cached: 0, called: 200 },
      ],
      failures: 0,
      retries: 0,
    });
    expect(remote.labelling!.calls).toBe(Math.ceil(600 / 32) + Math.ceil(200 / 32));
    expect(server.asked).toHaveLength(ROWS);
    expect(remote.teacher).toMatchObject({ name: 'teacher', outputs: 'cached' });
    expect(remote.metrics.testAgreement).toBeGreaterThan(0.8);
  });

  test('a second experiment on the same rows with the same teacher makes no call; another teacher is never given its answers', async () => {
    const asked = server.asked.length;
    const again = await distillWith(path.join(folder, 'again'), {
      type: 'function',
      id: 'http mlp-64',
      call: httpTeacher(server.url),
      kind: 'logits',
      cache,
    });
    expect(server.asked.length).toBe(asked);
    expect(again.labelling).toMatchObject({
      calls: 0,
      splits: [
        { cached: 600, called: 0 },
        { cached: 200, called: 0 },
      ],
    });
    expect(await testProbabilities(again.onnx!)).toEqual(called); // the same answers: the same student, exactly

    const other = await distillWith(path.join(folder, 'other'), {
      type: 'function',
      id: 'http mlp-64 v2',
      call: httpTeacher(server.url),
      kind: 'logits',
      cache,
    });
    expect(other.labelling!.splits.map((split) => split.cached)).toEqual([0, 0]);
    expect(server.asked.length).toBe(asked + ROWS);
  });

  test('200 ms latency and 5 % failures: the same student, the retries counted in report.json and report.md', async () => {
    const faulty = await serveTeacher(teacherOnnx, { latencyMs: 200, failureRate: 0.05 });
    const experiment = (id: string, url: string) => ({
      name: 'served',
      device: 'cpu',
      data: tinyData,
      teacher: {
        type: 'function' as const,
        id,
        call: httpTeacher(url),
        kind: 'logits' as const,
        cache,
        concurrency: 8,
        backoffMs: 20,
      },
      students: [soft],
      evaluate: { benchmark: false },
    });
    try {
      const clean = path.join(folder, 'clean');
      await run(experiment('http clean', server.url), { outDir: clean, engine });
      const outDir = path.join(folder, 'faulty');
      const report = await run(experiment('http faulty', faulty.url), { outDir, engine });
      expect(faulty.failed).toBeGreaterThan(0);
      const labelling = report.teacher.labelling!;
      expect(labelling.retries).toBe(faulty.failed);
      expect(labelling.failures).toBe(faulty.failed);
      expect(labelling.splits.map((split) => split.called)).toEqual([600, 200]);
      expect(await testProbabilities(path.join(outDir, 'soft.onnx'))).toEqual(
        await testProbabilities(path.join(clean, 'soft.onnx')),
      );
      expect(report.teacher.inputs).toBe('outputs');
      expect(report.teacher.onnx).toBeNull();
      expect(report.teacher.test).toMatchObject({ n: 200 });
      expect(report.students[0]!.agreementWithTeacher).toBeGreaterThan(0.8);
      const saved = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8'));
      expect(saved.teacher.labelling.retries).toBe(faulty.failed);
      expect(saved.teacher.model).toMatchObject({ type: 'function', id: 'http faulty' });
      expect(saved.teacher.model.call).toBeUndefined();
      const markdown = fs.readFileSync(path.join(outDir, 'report.md'), 'utf8');
      expect(markdown).toContain(`${faulty.failed} retries`);
      expect(markdown).toContain('was called, not run here (function http faulty)');
    } finally {
      await faulty.close();
    }
  });

  test('a file of its outputs is the same teacher: the same student', async () => {
    // The function run wrote its answers where the engine read them: those files, as a user's outputs file.
    const dataDir = path.join(folder, 'function', 'data');
    const copy = (name: string): string => {
      const target = path.join(folder, `outputs-${name}`);
      fs.copyFileSync(path.join(dataDir, name), target);
      return target;
    };
    const fromFile = await distillWith(path.join(folder, 'outputs'), {
      type: 'outputs',
      path: copy('teacher-train.npy'),
      test: copy('teacher-test.npy'),
      kind: 'logits',
    });
    expect(await testProbabilities(fromFile.onnx!)).toEqual(called);
    expect(fromFile.labelling).toMatchObject({ calls: 0, cache: null, kind: 'logits' });
  });

  test('labels alone: the students learn them as pseudo-labels, and report.md says no soft targets were available', async () => {
    const labelsOnly: TeacherFunction = async (inputs, context) => {
      const logits = await httpTeacher(server.url)(inputs, context);
      return (logits as number[][]).map((row) => context.classes[row.indexOf(Math.max(...row))]!);
    };
    const outDir = path.join(folder, 'labels');
    const report = await run(
      {
        name: 'labels',
        device: 'cpu',
        data: tinyData,
        teacher: { type: 'function', id: 'http labels', call: labelsOnly, cache },
        students: [soft, { ...soft, name: 'hard', method: { type: 'hard-labels' } }],
        evaluate: { benchmark: false },
      },
      { outDir, engine },
    );
    expect(report.teacher.labelling).toMatchObject({ kind: 'labels', kindFrom: 'auto' });
    expect(report.students.find((student) => student.name === 'soft')!.verdict?.baseline).toBe('hard');
    expect(fs.readFileSync(path.join(outDir, 'report.md'), 'utf8')).toContain('No soft targets were available');
  });

  describe('bad answers and faults name the rows, and what was answered stays cached', () => {
    const attempt = (name: string, call: TeacherFunction, extra: Record<string, unknown> = {}) =>
      distillWith(path.join(folder, name), {
        type: 'function',
        id: name,
        call,
        cache,
        batchSize: 100,
        concurrency: 1,
        backoffMs: 1,
        ...extra,
      });
    const ten = (value: number) => Array.from({ length: 10 }, () => value);

    test.each([
      ['the wrong shape', 'probabilities', ten(0.1), [0.5, 0.5], /10 /],
      ['NaN', 'probabilities', ten(0.1), ten(NaN), /NaN/],
      ['probabilities that do not sum to 1', 'probabilities', ten(0.1), ten(0.05), /sum to 0\.5/],
      ['an unknown class name', 'labels', '3', 'eleven', /eleven/],
    ] as [string, string, TeacherAnswer, TeacherAnswer, RegExp][])(
      '%s: a TeacherOutputError naming the row',
      async (name, kind, good, bad, message) => {
        const call: TeacherFunction = (inputs, context) =>
          inputs.map((_, i) => (context.rows.start + i === 150 ? bad : good));
        const error = await attempt(`bad-${name.replace(/\W+/g, '-')}`, call, { kind }).catch(
          (caught: unknown) => caught,
        );
        expect(error).toBeInstanceOf(TeacherOutputError);
        expect((error as TeacherOutputError).row).toBe(150);
        expect((error as Error).message).toMatch(message);
        expect((error as Error).message).toContain('row 151');
      },
    );

    test('a batch with the wrong number of answers', async () => {
      const error = await attempt('count', (inputs) => inputs.slice(1).map(() => '0')).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(TeacherOutputError);
      expect((error as Error).message).toMatch(/expected 100 answers for rows 1–100, received 99/);
    });

    test('a non-retryable error stops the run naming the row range; the rows answered before it stay cached', async () => {
      let calls = 0;
      const call: TeacherFunction = (inputs, context) => {
        calls++;
        if (context.rows.start >= 300) throw new Error('401 unauthorized');
        return inputs.map(() => '3');
      };
      const error = await attempt('fatal', call).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TeacherCallError);
      expect((error as Error).message).toContain('rows 301–400');
      expect((error as Error).message).toContain('401 unauthorized');
      expect(calls).toBe(4); // never retried
      // Run again with a working teacher: the 300 rows answered before are not asked again.
      let asked = 0;
      const again = await attempt('fatal', (inputs) => {
        asked += inputs.length;
        return inputs.map(() => '3');
      });
      expect(again.labelling!.splits[0]).toMatchObject({ rows: 600, cached: 300, called: 300 });
      expect(asked).toBe(ROWS - 300);
    });

    test('a retryable error that persists: stopped after its retries', async () => {
      let calls = 0;
      const call: TeacherFunction = () => {
        calls++;
        throw new RetryableError('429 too many requests');
      };
      const error = await attempt('retries', call, { retries: 2 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TeacherCallError);
      expect((error as TeacherCallError).attempts).toBe(3);
      expect(calls).toBe(3);
    });

    test('a call that hangs past its timeout', async () => {
      const hang: TeacherFunction = () => new Promise(() => undefined);
      const error = await attempt('hang', hang, { timeoutMs: 50, retries: 1 }).catch((caught: unknown) => caught);
      expect(error).toBeInstanceOf(TeacherCallError);
      expect((error as TeacherCallError).cause).toBeInstanceOf(TeacherTimeoutError);
      expect((error as Error).message).toMatch(/took longer than 50 ms/);
    });

    test('an outputs file with the wrong row count, or ids that do not match, names the file', async () => {
      const short = path.join(folder, 'short.npy');
      fs.writeFileSync(short, npyBytes(new Float32Array(599 * 10), [599, 10]));
      const error = await distillWith(path.join(folder, 'short'), { type: 'outputs', path: short }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(TeacherOutputError);
      expect((error as Error).message).toContain(short);
      expect((error as Error).message).toMatch(/599 .*600/);
      const ids = await distillWith(path.join(folder, 'ids'), { type: 'outputs', path: short, id: 'id' }).catch(
        (caught: unknown) => caught,
      );
      expect(ids).toBeInstanceOf(TeacherOutputError);
      expect((ids as Error).message).toContain('teacher.id');
    });

    test('trainTeacher refuses a teacher you call', async () => {
      await expect(
        trainTeacher({ outDir: path.join(folder, 'refused'), teacher: { type: 'function', id: 'x', call: () => [] } }),
      ).rejects.toThrow(ConfigError);
    });
  });

  describe('from the CLI: a module teacher', () => {
    const moduleFile = path.join(folder, 'teacher.mjs');
    const experiment = (name: string, teacher: Record<string, unknown>) =>
      writeJson(path.join(folder, `${name}.json`), {
        name,
        device: 'cpu',
        data: tinyData,
        teacher: { type: 'module', path: moduleFile, cache, ...teacher },
        students: [soft],
        evaluate: { benchmark: false },
      });

    beforeAll(() => {
      fs.writeFileSync(
        moduleFile,
        `export default async function teacher(inputs, { signal }) {
  const response = await fetch(process.env.TEACHER_URL, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rows: inputs.map((input) => Array.from(input)) }),
    signal,
  });
  if (response.status === 503) throw Object.assign(new Error('HTTP 503'), { retryable: true });
  if (!response.ok) throw new Error('HTTP ' + response.status);
  return (await response.json()).logits;
}
export const notAFunction = 42;
`,
      );
    });

    test('killed half-way (SIGKILL), then --resume: no cached row is asked for again', async () => {
      const slow = await serveTeacher(teacherOnnx, { latencyMs: 150 });
      try {
        const own = path.join(folder, 'killed-cache'); // this run's answers alone
        const file = experiment('killed', {
          id: 'http slow',
          batchSize: 20,
          concurrency: 2,
          kind: 'logits',
          cache: own,
        });
        const outDir = path.join(folder, 'killed');
        const child = spawn(process.execPath, [CLI, 'run', file, '--out', outDir], {
          cwd: ROOT,
          env: { ...process.env, TEACHER_URL: slow.url },
          stdio: 'ignore',
          detached: true, // its own process group: the engine it started dies with it
        });
        const exit = new Promise<void>((resolve) => child.on('exit', () => resolve()));
        while (slow.answered < 15) await new Promise((resolve) => setTimeout(resolve, 50));
        process.kill(-child.pid!, 'SIGKILL');
        await exit;
        // What the cache holds now: every answer that reached it before the kill.
        const cachedKeys = new Set<string>();
        for (const chunk of fs.readdirSync(own, { recursive: true }).map(String))
          if (chunk.includes('chunks') && chunk.endsWith('.json'))
            for (const [key] of JSON.parse(fs.readFileSync(path.join(own, chunk), 'utf8')).entries as [string][])
              cachedKeys.add(key);
        const askedBefore = slow.asked.length;
        expect(cachedKeys.size).toBeGreaterThanOrEqual(14 * 20);
        expect(cachedKeys.size).toBeLessThan(600);

        // (not spawnSync: the server answering the child lives in this process, whose event loop must keep running)
        const resumed = await cliRun([file, '--out', outDir, '--resume', '--json'], { TEACHER_URL: slow.url });
        expect(resumed.stderr).not.toMatch(/^error/m);
        expect(resumed.status).toBe(0);
        const askedAgain = slow.asked.slice(askedBefore);
        expect(askedAgain.filter((key) => cachedKeys.has(key))).toEqual([]);
        expect(askedAgain.length).toBe(ROWS - cachedKeys.size);
        const report = JSON.parse(resumed.stdout);
        expect(report.teacher.labelling.splits[0].cached).toBe(cachedKeys.size);
      } finally {
        await slow.close();
      }
    });

    test('a missing module file, or an export that is not a function, is named', () => {
      const missing = spawnSync(
        process.execPath,
        [CLI, 'run', experiment('missing', { path: path.join(folder, 'nope.mjs') }), '--out', path.join(folder, 'm')],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
      expect(missing.status).toBe(1);
      expect(missing.stderr).toContain(`teacher.path: ${path.join(folder, 'nope.mjs')}: no such file`);
      const wrong = spawnSync(
        process.execPath,
        [CLI, 'run', experiment('wrong', { export: 'notAFunction' }), '--out', path.join(folder, 'w')],
        {
          cwd: ROOT,
          encoding: 'utf8',
        },
      );
      expect(wrong.status).toBe(1);
      expect(wrong.stderr).toContain('teacher.export');
      expect(wrong.stderr).toContain('not a function (number)');
      expect(wrong.stderr).toContain('its function exports: default');
      expect(TeacherModuleError.name).toBe('TeacherModuleError');
    });
  });
});
