/**
 * k-fold selection through the real engine: a tiny `auto` on 600 rows chooses by 2-fold cross-validation over
 * data.train (each fold's teacher and candidates in `selection/fold-<i>/`, checkpoints only), then the main run trains
 * only the chosen candidate, the other students and the verdict's baseline.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Engine, run, verifyRun, type EngineEvent, type ExperimentInput, type ModelReport } from '../src';
import { tempDir } from './support/tiny';
import { closeIfOpened } from './support/hooks';

const training = { epochs: 1, batchSize: 64, optimizer: { type: 'adam' as const, lr: 0.003 } };
const experiment: ExperimentInput = {
  name: 'kfold',
  device: 'cpu',
  data: {
    train: { type: 'mnist', split: 'train', limit: 600 },
    test: { type: 'mnist', split: 'test', limit: 100 },
    validation: { type: 'split', fraction: 0.2 },
  },
  teacher: { type: 'train', model: { type: 'mlp', hidden: [32] }, training },
  students: [{ name: 'pick', model: { type: 'mlp', hidden: [8] }, method: { type: 'auto' }, training }],
  evaluate: { benchmark: false, selection: { folds: 2 } },
};

const noTestMetric = (history: Record<string, unknown>[]): boolean =>
  history.every((epoch) => !Object.keys(epoch).some((key) => key.startsWith('test')));
// eslint-disable-next-line @typescript-eslint/no-unnecessary-type-parameters -- the caller names what the file holds
const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

describe('k-fold selection', () => {
  let engine: Engine;
  beforeAll(async () => {
    engine = await Engine.start();
  });
  afterAll(() => closeIfOpened(engine));

  test('auto on 600 rows: two folds decide on every training row, then only the chosen candidate is trained', async () => {
    const out = path.join(tempDir('kfold'), 'out');
    const events: EngineEvent[] = [];
    const report = await run(experiment, { outDir: out, engine, onEvent: (event) => events.push(event) });
    const logs = events.flatMap((event) => (event.event === 'log' ? [event.message] : []));
    expect(logs).toContain('selection by 2-fold cross-validation over data.train (evaluate.selection.folds: 2)');
    expect(logs).toContain('selection: fold 2 of 2 (teacher and 6 candidates)');

    const [sweep] = report.sweeps;
    expect(sweep).toMatchObject({
      student: 'pick',
      auto: true,
      rule: 'significant-over-reference',
      test: 'mcnemar-exact',
      evidence: 'k-fold',
      folds: 2,
      rows: 600,
      level: 0.05,
      reference: 'pick-1',
    });
    expect(sweep!.candidates).toHaveLength(6);
    for (const candidate of sweep!.candidates) {
      expect(candidate.folds!.values).toHaveLength(2);
      expect(candidate.folds!.mean).toBeCloseTo((candidate.folds!.values[0]! + candidate.folds!.values[1]!) / 2, 12);
    }
    const chosen = sweep!.candidates.find((candidate) => candidate.chosen)!;
    if (chosen.name !== 'pick-1') expect(chosen.comparison!.holmPValue).toBeLessThan(0.05);

    // Each fold: the teacher and every candidate, checkpoints only, no candidate reading the test split.
    for (const fold of [0, 1]) {
      const folder = path.join(out, 'selection', `fold-${fold}`);
      expect(fs.readdirSync(folder).filter((file) => file.endsWith('.onnx'))).toEqual([]);
      const teacher = readJson<{ history: Record<string, unknown>[] }>(path.join(folder, 'results', 'teacher.json'));
      expect(teacher.history).toHaveLength(1);
      for (const candidate of sweep!.candidates) {
        const result = readJson<{ history: Record<string, unknown>[]; validationPredictions: string }>(
          path.join(folder, 'results', `${candidate.name}.json`),
        );
        expect(noTestMetric(result.history)).toBe(true);
        expect(readJson<{ rows: number }>(result.validationPredictions).rows).toBe(300);
      }
    }
    // The main run: only the chosen candidate (and, for its verdict, a labels student), none of the others.
    const trained = fs.readdirSync(path.join(out, 'results')).filter((file) => /^pick-\d+\.json$/.test(file));
    expect(trained).toEqual([`${chosen.name}.json`]);
    const main = readJson<{ history: Record<string, unknown>[] }>(path.join(out, 'results', `${chosen.name}.json`));
    expect(noTestMetric(main.history)).toBe(true);
    expect(report.students.map((student) => student.name)).toEqual(
      chosen.name === 'pick-1' ? ['pick-1'] : [chosen.name, 'pick-labels'],
    );
    const markdown = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('2-fold cross-validation over the 600 rows of data.train');
    expect(markdown).toContain('per fold (mean ± sd)');
    expect(verifyRun(out)).toMatchObject({ ok: true });

    // --resume keeps every finished fold and the main run, and decides the same way
    const again: EngineEvent[] = [];
    const resumed = await run(experiment, { outDir: out, engine, resume: true, onEvent: (event) => again.push(event) });
    expect(again.filter((event) => event.event === 'phase-start')).toEqual([]);
    expect(resumed.sweeps).toEqual(report.sweeps);
  }, 300_000);

  test('auto beside a labels student of the same model and training: keeping labels keeps that very student', async () => {
    const out = path.join(tempDir('twin'), 'out');
    const twin: ExperimentInput = {
      ...experiment,
      name: 'twin',
      students: [
        ...experiment.students,
        { name: 'base', model: { type: 'mlp', hidden: [8] }, method: { type: 'hard-labels' }, training },
      ],
      // a level no difference on 120 rows can reach: the labels student stays, whatever the candidates score
      evaluate: { benchmark: false, selection: { folds: 'off', level: 1e-100 } },
    };
    const events: EngineEvent[] = [];
    const report = await run(twin, { outDir: out, engine, onEvent: (event) => events.push(event) });
    const logs = events.flatMap((event) => (event.event === 'log' ? [event.message] : []));
    expect(logs).toContain(
      'pick-1: the same model, method and training as base, so not trained again: base stands for it',
    );

    // pick-1 is never trained: the engine's list leaves it out, and every other student keeps its place's seed
    const request = readJson<{ students: { name: string; position?: number }[] }>(
      path.join(out, 'resolved-config.json'),
    );
    expect(request.students.map((student) => [student.name, student.position])).toEqual([
      ['pick-2', 1],
      ['pick-3', 2],
      ['pick-4', 3],
      ['pick-5', 4],
      ['pick-6', 5],
      ['base', 6],
    ]);
    expect(fs.existsSync(path.join(out, 'results', 'pick-1.json'))).toBe(false);
    expect(fs.existsSync(path.join(out, 'pick-1.onnx'))).toBe(false);

    const [sweep] = report.sweeps;
    expect(sweep).toMatchObject({ chosen: 'pick-1', reference: 'pick-1', labelsKept: true, evidence: 'validation' });
    expect(sweep!.candidates[0]).toMatchObject({ name: 'pick-1', sameAs: 'base' });
    expect(sweep!.summary).toContain('auto kept the labels-trained student: base');
    // the group's student is base: its ONNX, its test results, and a verdict that says so rather than testing
    expect(report.students.map((student) => student.name)).toEqual(['pick-1', 'base']);
    const [kept, base] = report.students as [ModelReport, ModelReport];
    expect(kept).toMatchObject({ candidateOf: 'pick', sameAs: 'base', onnx: 'base.onnx', test: base.test });
    expect(kept.verdict).toEqual({
      baseline: 'base',
      test: 'none',
      errorsDelta: 0,
      studentBetter: 0,
      baselineBetter: 0,
      pValue: 1,
      conclusion: 'identical',
    });
    expect(base.verdict).toBeUndefined();
    const markdown = fs.readFileSync(path.join(out, 'report.md'), 'utf8');
    expect(markdown).toContain('| pick-1 (pick) = base |');
    expect(markdown).toContain('| pick-1 = base | hard-labels |');
    expect(markdown).toContain('identical to base');
    expect(markdown).toContain('**pick-1** is **base**');
    expect(verifyRun(out)).toMatchObject({ ok: true });
  }, 300_000);
});
