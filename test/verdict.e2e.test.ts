/**
 * Through the real engine: `auto` trains its candidates without the test split and keeps the labels candidate
 * unless another is significantly better on validation (or, with k-fold selection, on every row of data.train);
 * each distilled student gets a verdict against its labels baseline; `runSeeds` repeats and pools; the
 * accuracy–cost chart is drawn.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine, run, runSeeds, verifyRun, type EngineEvent, type ExperimentInput } from '../src';
import { tempDir } from './support/tiny';
import { closeIfOpened } from './support/hooks';

const training = { epochs: 2, batchSize: 64, optimizer: { type: 'adam' as const, lr: 0.003 } };
const base = {
  device: 'cpu',
  data: {
    train: { type: 'mnist', split: 'train', limit: 500 },
    test: { type: 'mnist', split: 'test', limit: 200 },
    validation: { type: 'split', fraction: 0.2 },
  },
  teacher: { type: 'train', model: { type: 'mlp', hidden: [48] }, training },
  // 100 validation rows would choose by 5-fold cross-validation; these tests are about the validation split's rule
  evaluate: { benchmark: true, selection: { folds: 'off' } },
} satisfies Partial<ExperimentInput>;

describe('auto, sweeps and the verdict', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(() => closeIfOpened(engine));

  test('auto: six candidates chosen on validation, only the chosen one (and its baseline) tested, with a verdict', async () => {
    const out = path.join(tempDir('auto'), 'out');
    const experiment: ExperimentInput = {
      ...base,
      name: 'auto',
      students: [{ name: 'pick', model: { type: 'mlp', hidden: [8] }, method: { type: 'auto' }, training }],
    };
    const events: EngineEvent[] = [];
    const report = await run(experiment, { outDir: out, engine, onEvent: (event) => events.push(event) });
    const logs = events.flatMap((event) => (event.event === 'log' ? [event.message] : []));
    expect(logs).toContain('pick: candidate 1 of 6 (method={"type":"hard-labels"})');
    expect(logs.filter((message) => /^pick: candidate \d of 6/.test(message))).toHaveLength(6);
    const [sweep] = report.sweeps;
    expect(sweep).toMatchObject({ student: 'pick', auto: true, metric: 'validationAccuracy' });
    expect(sweep!.candidates.map((c) => c.method?.type)).toEqual([
      'hard-labels',
      'soft-targets',
      'soft-targets',
      'soft-targets',
      'soft-targets',
      'dkd',
    ]);
    expect(sweep).toMatchObject({ reference: 'pick-1', rule: 'significant-over-reference', evidence: 'validation' });
    expect(Math.abs(sweep!.rows - 100)).toBeLessThanOrEqual(5); // 20 % of each class, rounded per class
    const chosen = sweep!.candidates.find((c) => c.chosen)!;
    // the labels candidate, or one significantly better than it after Holm, with the better score
    if (chosen.name !== 'pick-1') {
      expect(chosen.comparison!.holmPValue).toBeLessThan(0.05);
      expect(chosen.validation).toBeGreaterThan(sweep!.candidates[0]!.validation);
    }
    for (const candidate of sweep!.candidates) {
      const [low, high] = candidate.interval!;
      expect(low).toBeLessThanOrEqual(candidate.validation);
      expect(high).toBeGreaterThanOrEqual(candidate.validation);
    }

    // candidates never read the test split: no test metric in any candidate's history
    for (const candidate of sweep!.candidates) {
      const result = JSON.parse(fs.readFileSync(path.join(out, 'results', `${candidate.name}.json`), 'utf8')) as {
        history: Record<string, unknown>[];
      };
      expect(result.history.every((epoch) => !Object.keys(epoch).some((key) => key.startsWith('test')))).toBe(true);
      expect(result.history.every((epoch) => typeof epoch.validationAccuracy === 'number')).toBe(true);
    }
    const shown = report.students.map((s) => s.name);
    if (sweep!.labelsKept) {
      expect(shown).toEqual(['pick-1']);
      expect(report.students[0]!.verdict).toBeUndefined();
    } else {
      expect(shown).toEqual(['pick-1', chosen.name].sort((a, b) => a.localeCompare(b, 'en', { numeric: true })));
      const verdict = report.students.find((s) => s.name === chosen.name)!.verdict!;
      expect(verdict.baseline).toBe('pick-1');
      const errors = (name: string): number =>
        (report.students.find((s) => s.name === name)!.test as { errors: number }).errors;
      const [student, baseline] = [{ errors: errors(chosen.name) }, { errors: errors('pick-1') }];
      expect(verdict.errorsDelta).toBe(student.errors - baseline.errors);
      expect(verdict.studentBetter - verdict.baselineBetter).toBe(-verdict.errorsDelta!);
      expect(verdict.pValue).toBeGreaterThan(0);
    }
    expect(report.students.find((s) => s.name === chosen.name)!.candidateOf).toBe('pick');
    const markdown = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('## auto: pick');
    expect(markdown).toContain(`candidates compared on the ${sweep!.rows} validation rows (the test set was not read)`);
    expect(markdown).toContain(sweep!.summary);
    // (the SVG charts are drawn by the CLI: cli.test.ts; jest cannot import vega's ES modules)
    expect(verifyRun(out)).toMatchObject({ ok: true });

    // --resume keeps every finished candidate and chooses the same one
    const again: EngineEvent[] = [];
    const resumed = await run(experiment, { outDir: out, engine, resume: true, onEvent: (event) => again.push(event) });
    expect(again.filter((event) => event.event === 'phase-start')).toEqual([]);
    expect(again).toContainEqual({ event: 'log', message: 'pick-6: already finished, kept' });
    expect(resumed.sweeps).toEqual(report.sweeps);
  }, 600_000);

  test('a sweep over two seeds: candidates, a labels baseline added for the verdict, and the pooled summary', async () => {
    const out = path.join(tempDir('seeds'), 'out');
    const experiment: ExperimentInput = {
      ...base,
      name: 'seeds',
      students: [{ name: 'kd', model: { type: 'mlp', hidden: [8] }, method: { type: 'soft-targets' }, training }],
      sweep: { 'method.temperature': [2, 8] },
      evaluate: { benchmark: false, selection: { folds: 'off' } },
    };
    const summary = await runSeeds(experiment, [0, 1], { outDir: out, engine });
    expect(summary.seeds).toEqual([0, 1]);
    expect(summary.students.map((s) => s.student)).toEqual(['kd', 'kd-labels']);
    const kd = summary.students[0]!;
    const reports = [0, 1].map(
      (seed) =>
        JSON.parse(
          fs.readFileSync(path.join(out, `seed-${seed}`, 'report.json'), 'utf8'),
        ) as import('../src').RunReport,
    );
    for (const [index, report] of reports.entries()) {
      expect(report.seed).toBe(index);
      expect(report.sweeps[0]!.candidates.map((c) => c.name)).toEqual(['kd-1', 'kd-2']);
      const chosen = report.students.find((s) => s.candidateOf === 'kd')!;
      expect(chosen.verdict!.baseline).toBe('kd-labels');
      expect(kd.values[index]).toBe((chosen.test as { accuracy: number }).accuracy);
    }
    const pooled = reports.reduce(
      (sum, report) => sum + report.students.find((s) => s.candidateOf === 'kd')!.verdict!.studentBetter,
      0,
    );
    expect(kd.verdict!.pooled.studentBetter).toBe(pooled);
    expect(fs.readFileSync(path.join(out, 'seeds.md'), 'utf8')).toContain('| kd |');
    // --resume over more seeds: the finished seeds are kept, the new one starts fresh
    fs.rmSync(path.join(out, 'seed-1'), { recursive: true });
    const resumed = await runSeeds(experiment, [0, 1], { outDir: out, engine, resume: true });
    expect(resumed.students[0]!.values).toEqual(kd.values);
  }, 600_000);
});
