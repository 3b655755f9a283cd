/**
 * Run folders: one process at a time (a lock), one experiment per folder (a manifest), `verify` before shipping.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Engine, RunFolderError, run, verifyRun, type ExperimentInput } from '../src';
import { claimRunFolder, runFiles } from '../src/io/run-folder';
import { CLI, ROOT, tempDir, writeJson } from './support/tiny';
import { closeIfOpened } from './support/hooks';

const training = { epochs: 1, batchSize: 64 };
function experiment(seed: number, students = ['s']): ExperimentInput {
  return {
    name: 'folder',
    seed,
    device: 'cpu',
    data: { train: { type: 'mnist', split: 'train', limit: 300 }, test: { type: 'mnist', split: 'test', limit: 100 } },
    teacher: { type: 'train', model: { type: 'mlp', hidden: [16] }, training },
    students: students.map((name) => ({
      name,
      model: { type: 'mlp', hidden: [8] },
      method: { type: 'soft-targets', temperature: 4 },
      training,
    })),
    evaluate: { benchmark: false },
  };
}

function cli(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => resolve({ code, stderr }));
  });
}

describe('run folders', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(() => closeIfOpened(engine));

  test('two runs into one folder at once: exactly one proceeds, the other fails at once naming the lock and its pid', async () => {
    const folder = tempDir('folder-race');
    const file = writeJson(path.join(folder, 'exp.json'), experiment(1));
    const out = path.join(folder, 'out');
    const results = await Promise.all([
      cli(['run', file, '--out', out, '--seed', '1']),
      cli(['run', file, '--out', out, '--seed', '2']),
    ]);
    const codes = results.map((result) => result.code).sort();
    // both stderr tails in the failure message: a run that should have won says why it did not
    expect({ codes, stderr: codes[0] === 0 ? [] : results.map((result) => result.stderr.slice(-600)) }).toEqual({
      codes: [0, codes[1]],
      stderr: [],
    });
    expect(codes[1]).not.toBe(0);
    const loser = results.find((result) => result.code !== 0)!;
    expect(loser.stderr).toMatch(
      new RegExp(`${out.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use: .*\\.lock is locked by pid \\d+`),
    );
    expect(verifyRun(out)).toMatchObject({ ok: true, problems: [] });
    expect(fs.existsSync(path.join(out, '.lock'))).toBe(false); // released at the end
  }, 240_000);

  test("another process's attempt at the lock is no foreign file: the holder still claims the folder", () => {
    // Two runs at once: the loser stages `.lock.new-<pid>-<token>` for a few system calls while the winner, holding
    // `.lock`, checks the folder. That staging folder (and `.lock.takeover`) belong to the lock, not to the user.
    const out = path.join(tempDir('folder-staging'), 'out');
    fs.mkdirSync(path.join(out, '.lock'), { recursive: true });
    fs.mkdirSync(path.join(out, '.lock.new-999-abc'));
    fs.writeFileSync(path.join(out, '.lock.new-999-abc', 'owner.json'), '{}');
    fs.mkdirSync(path.join(out, '.lock.takeover'));
    expect(runFiles(out)).toEqual([]);
    const claim = claimRunFolder(out, 'folder', { name: 'folder' }, { resume: false, overwrite: false });
    expect(claim.foreign.size).toBe(0);
    expect(claim.manifest.complete).toBe(false);
    // a user's file is still foreign
    const other = path.join(tempDir('folder-user-file'), 'out');
    fs.mkdirSync(path.join(other, '.lock'), { recursive: true });
    fs.writeFileSync(path.join(other, 'notes.txt'), 'mine');
    expect(() => claimRunFolder(other, 'folder', { name: 'folder' }, { resume: false, overwrite: false })).toThrow(
      /is not empty and is no Distillery run folder \(it holds notes\.txt\)/,
    );
  });

  test('another experiment into a used folder is refused; --overwrite removes only the old artefacts', async () => {
    const out = path.join(tempDir('folder-other'), 'out');
    await run(experiment(0, ['s', 'old-student']), { outDir: out, engine });
    fs.writeFileSync(path.join(out, 'notes.txt'), 'mine');
    const refused = await run(experiment(0, ['s']), { outDir: out, engine }).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(RunFolderError);
    expect((refused as RunFolderError).problem).toBe('other-experiment');
    expect((refused as RunFolderError).message).toContain("holds another experiment's run ('folder'");
    expect(fs.existsSync(path.join(out, 'old-student.onnx'))).toBe(true); // nothing was touched

    const report = await run(experiment(0, ['s']), { outDir: out, engine, overwrite: true });
    expect(fs.existsSync(path.join(out, 'old-student.onnx'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'old-student.pt'))).toBe(false);
    expect(fs.readFileSync(path.join(out, 'notes.txt'), 'utf8')).toBe('mine'); // not the old run's: kept
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'manifest.json'), 'utf8')) as {
      artefacts: { path: string }[];
    };
    expect(report.artefacts.map((entry) => entry.path)).toEqual(manifest.artefacts.map((entry) => entry.path));
    expect(manifest.artefacts.map((entry) => entry.path)).not.toContain('notes.txt');
  }, 120_000);

  test('--resume with a changed config is refused, naming the fields that differ', async () => {
    const out = path.join(tempDir('folder-resume'), 'out');
    await run(experiment(0), { outDir: out, engine });
    const changed = experiment(0);
    changed.students[0]!.method = { type: 'soft-targets', temperature: 8 };
    const error = await run(changed, { outDir: out, engine, resume: true }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(RunFolderError);
    expect((error as RunFolderError).details.fields).toEqual(['students[0].method.temperature']);
    expect((error as RunFolderError).message).toContain(
      '--resume with a changed config: students[0].method.temperature differ',
    );
    await expect(run(experiment(0), { outDir: out, engine, resume: true })).resolves.toMatchObject({ name: 'folder' });
    const empty = path.join(tempDir('folder-resume-empty'), 'out');
    await expect(run(experiment(0), { outDir: empty, engine, resume: true })).rejects.toThrow(
      /holds no run to resume \(no manifest\.json\): run without --resume/,
    );
  }, 120_000);

  test('verify passes on a fresh run and names every tampering: a replaced teacher, a stray model, a changed file', async () => {
    const out = path.join(tempDir('folder-verify'), 'out');
    await run(experiment(0), { outDir: out, engine });
    expect(verifyRun(out)).toMatchObject({ ok: true });
    const cleanCli = await cli(['verify', out]);
    expect(cleanCli.code).toBe(0);

    // The teacher's checkpoint replaced by another run's: the student's recorded provenance no longer holds.
    const other = path.join(tempDir('folder-verify-other'), 'out');
    await run(experiment(5), { outDir: other, engine });
    fs.copyFileSync(path.join(other, 'teacher.onnx'), path.join(out, 'teacher.onnx'));
    fs.copyFileSync(path.join(other, 'checkpoints', 'teacher.pt'), path.join(out, 'checkpoints', 'teacher.pt'));
    fs.copyFileSync(path.join(other, 's.onnx'), path.join(out, 'stray.onnx'));
    const result = verifyRun(out);
    expect(result.ok).toBe(false);
    expect(result.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^teacher\.onnx: changed since the run/),
        expect.stringMatching(/^checkpoints\/teacher\.pt: changed since the run/),
        expect.stringMatching(/^stray\.onnx: a model file the run did not write/),
        expect.stringMatching(/^s\.onnx: its teacher .* is none of this folder's teacher files/),
      ]),
    );
    const failedCli = await cli(['verify', out]);
    expect(failedCli.code).toBe(1);
    expect(failedCli.stderr).toContain('teacher.onnx: changed since the run');
  }, 180_000);

  test('a lock left by a process that died is taken over', async () => {
    const out = path.join(tempDir('folder-stale'), 'out');
    fs.mkdirSync(path.join(out, '.lock'), { recursive: true });
    const owner = {
      pid: 2 ** 22 + 12345,
      hostname: os.hostname(),
      started: null,
      since: new Date().toISOString(),
      purpose: 'a run that was killed',
      token: 'x',
    };
    fs.writeFileSync(path.join(out, '.lock', 'owner.json'), JSON.stringify(owner));
    await expect(run(experiment(0), { outDir: out, engine })).resolves.toMatchObject({ name: 'folder' });
    expect(verifyRun(out).ok).toBe(true);
  }, 120_000);
});
