/**
 * The model warnings end to end, through `distillery run`: a table whose labels are noise (nothing to learn) and
 * whose test set is 90 % one class. Every model there learns nothing useful, the teacher is no better than the
 * labels-trained student on validation, and a wide teacher trained long memorises its training rows (overfits):
 * each warning must reach report.json (`warnings`, with its kind and model), report.md (beside the verdict, or under
 * the results table for the teacher) and the command's output.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { RunReport } from '../src/experiment/report-types';
import { CLI, ROOT, tempDir, writeJson } from './support/tiny';

/** A deterministic pseudo-random stream (an LCG), so the files are the same every run. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1103515245 + 12345) % 2147483648;
    return state / 2147483648;
  };
}

const FEATURES = 8;

/** Rows of noise features; the label of row i is `label(i)`, unrelated to the features. */
function noiseCsv(rows: number, seed: number, label: (row: number) => string): string {
  const next = random(seed);
  const header = [...Array.from({ length: FEATURES }, (_, k) => `f${k}`), 'label'].join(',');
  const lines = Array.from({ length: rows }, (_, i) =>
    [...Array.from({ length: FEATURES }, () => next().toFixed(4)), label(i)].join(','),
  );
  return [header, ...lines].join('\n') + '\n';
}

describe('warnings for models that learned nothing and a teacher not worth distilling', () => {
  const folder = tempDir('warnings-e2e');
  const outDir = path.join(folder, 'out');
  let result: { status: number | null; stdout: string; stderr: string };
  let report: RunReport;
  let markdown: string;

  beforeAll(() => {
    const train = path.join(folder, 'train.csv');
    const test = path.join(folder, 'test.csv');
    fs.writeFileSync(
      train,
      noiseCsv(200, 1, (i) => (i % 2 === 0 ? 'a' : 'b')),
    ); // balanced noise
    fs.writeFileSync(
      test,
      noiseCsv(50, 2, (i) => (i % 10 === 0 ? 'b' : 'a')),
    ); // 90 % a: the majority rate
    const experiment = writeJson(path.join(folder, 'noise.json'), {
      name: 'noise',
      seed: 0,
      device: 'cpu',
      data: {
        train: { type: 'csv', path: train, label: 'label' },
        test: { type: 'csv', path: test },
        validation: { type: 'split', fraction: 0.2 },
      },
      // wide and long on 160 rows of noise: it memorises them
      teacher: {
        type: 'train',
        model: { type: 'mlp', hidden: [256, 256] },
        training: { epochs: 60, batchSize: 32, optimizer: { type: 'adam', lr: 0.003 } },
      },
      students: [
        {
          name: 'soft',
          model: { type: 'mlp', hidden: [4] },
          method: { type: 'soft-targets', temperature: 4, alpha: 0.9 },
          training: { epochs: 3, batchSize: 32, optimizer: { type: 'adam', lr: 0.01 } },
        },
      ],
      evaluate: { benchmark: false },
    });
    const spawned = spawnSync(process.execPath, [CLI, 'run', experiment, '--out', outDir], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    result = { status: spawned.status, stdout: spawned.stdout, stderr: spawned.stderr };
    if (result.status !== 0) throw new Error(`distillery run failed (${String(result.status)}):\n${result.stderr}`);
    report = JSON.parse(fs.readFileSync(path.join(outDir, 'report.json'), 'utf8')) as RunReport;
    markdown = fs.readFileSync(path.join(outDir, 'report.md'), 'utf8');
  }, 300_000);

  /** The message of the warning of that kind about that model (a failed expectation when there is none). */
  const about = (model: string, kind: string): string => {
    const warning = report.warnings.find((candidate) => candidate.model === model && candidate.kind === kind);
    expect(warning).toBeDefined();
    return warning?.message ?? '';
  };

  test('a student no better than always answering the majority class: learned-nothing, beside its verdict', () => {
    const soft = report.students.find((student) => student.name === 'soft');
    expect(soft?.verdict).toBeDefined();
    expect(soft?.test).toMatchObject({ n: 50 });
    const warning = about('soft', 'learned-nothing');
    expect(warning).toMatch(/^soft: test accuracy \d+\.\d % is at or below the 90\.0 % of always answering/);
    expect(warning).toContain('method.temperature 4');
    // report.md: under the student's verdict sentence
    const verdictLine = markdown.split('\n').findIndex((line) => line.startsWith('- **soft** vs '));
    expect(verdictLine).toBeGreaterThan(0);
    const below = markdown.split('\n').slice(verdictLine + 1, verdictLine + 4);
    expect(below).toContain(`  - **Warning:** ${warning}`);
    expect(result.stderr).toContain(`warning: ${warning}`);
  });

  test('a teacher not clearly better than the labels student on validation, and one that overfits', () => {
    const notBetter = about('teacher', 'teacher-not-better');
    expect(notBetter).toContain('not clearly better than soft-labels (trained on the labels) on validation');
    // the exact paired test on the teacher's and the student's per-row validation predictions, not an approximation
    expect(fs.existsSync(path.join(outDir, 'results', 'teacher.validation.json'))).toBe(true);
    expect(notBetter).toMatch(
      /\d+ validation rows only the teacher gets right, \d+ only the student; p = \S+ \(exact McNemar\)/,
    );
    const overfits = about('teacher', 'teacher-overfits');
    expect(overfits).toMatch(/on its training rows against \d+\.\d % on validation/);
    // report.md: under the results table, before the verdicts
    const table = markdown.indexOf('| teacher |');
    const verdicts = markdown.indexOf('## Did distillation help?');
    for (const warning of [notBetter, overfits]) {
      const at = markdown.indexOf(`**Warning:** ${warning}`);
      expect(at).toBeGreaterThan(table);
      expect(at).toBeLessThan(verdicts);
      expect(result.stderr).toContain(`warning: ${warning}`);
    }
  });

  test('data warnings keep their place: kind data, no model, at the top of report.md', () => {
    for (const warning of report.warnings) expect(warning.model === undefined).toBe(warning.kind === 'data');
  });

  test('the output says each warning once (not as a progress line and again after the results table)', () => {
    expect(report.warnings.length).toBeGreaterThan(0);
    for (const warning of report.warnings)
      expect(result.stderr.split('\n').filter((line) => line.endsWith(`warning: ${warning.message}`))).toHaveLength(1);
  });
});
