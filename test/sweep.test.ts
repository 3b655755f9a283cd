/**
 * Sweeps, auto, the verdict's statistics and the Pareto front, as pure functions; the end-to-end runs are in
 * verdict.e2e.test.ts.
 */
import { parseExperiment, ConfigError } from '../src/config';
import { AUTO_CANDIDATES, gridCombinations, planStudents } from '../src/config/sweep';
import { exactBinomialTwoSided, mcnemarExact, signTest } from '../src/eval/significance';
import { runSeeds, summariseSeeds } from '../src/experiment/seeds';
import { identicalVerdict, verdict, verdictSentence } from '../src/experiment/verdict';
import type { ModelReport, RunReport } from '../src/experiment';

const validation = { type: 'split', fraction: 0.2 } as const;
const mlp = (hidden: number[]) => ({ type: 'mlp', hidden }) as const;
function experiment(overrides: Record<string, unknown>) {
  return parseExperiment({
    data: { validation },
    teacher: { type: 'train', model: mlp([32]) },
    students: [{ name: 'kd', model: mlp([8]), method: { type: 'soft-targets' } }],
    ...overrides,
  });
}

describe('sweep expansion', () => {
  test('a grid expands each student into named candidates, the first key varying slowest', () => {
    expect(gridCombinations({ a: [1, 2], b: ['x', 'y'] })).toEqual([
      { a: 1, b: 'x' },
      { a: 1, b: 'y' },
      { a: 2, b: 'x' },
      { a: 2, b: 'y' },
    ]);
    const plan = planStudents(
      experiment({
        sweep: { 'method.temperature': [2, 8], 'model.hidden': [[4], [16]] },
        evaluate: { baselines: false },
      }),
    );
    expect(plan.students.map((s) => s.name)).toEqual(['kd-1', 'kd-2', 'kd-3', 'kd-4']);
    expect(
      plan.students.map((s) => [
        s.method.type === 'soft-targets' && s.method.temperature,
        s.model.type === 'mlp' && s.model.hidden,
      ]),
    ).toEqual([
      [2, [4]],
      [2, [16]],
      [8, [4]],
      [8, [16]],
    ]);
    expect(plan.students[0]!.candidate).toEqual({
      group: 'kd',
      overrides: { 'method.temperature': 2, 'model.hidden': [4] },
    });
    expect(plan.students[0]!.method).toMatchObject({ alpha: 0.9, standardizeLogits: false }); // the rest of the student stays
    expect(plan.groups).toEqual([
      {
        name: 'kd',
        auto: false,
        candidates: plan.students.map((s) => ({ name: s.name, overrides: s.candidate!.overrides })),
      },
    ]);
  });

  test('setting method.type starts the method afresh; fields a method lacks are dropped for it; duplicates are merged', () => {
    const plan = planStudents(
      experiment({
        students: [
          { name: 'kd', model: mlp([8]), method: { type: 'soft-targets', alpha: 0.5 } },
          { name: 'labels', model: mlp([8]), method: { type: 'hard-labels' } },
        ],
        sweep: { 'method.type': ['soft-targets', 'dkd'], 'method.temperature': [2, 4] },
      }),
    );
    const kd = plan.students.filter((s) => s.candidate?.group === 'kd').map((s) => s.method);
    expect(kd).toEqual([
      { type: 'soft-targets', temperature: 2, alpha: 0.9, standardizeLogits: false }, // alpha 0.5 does not carry over a type change
      { type: 'soft-targets', temperature: 4, alpha: 0.9, standardizeLogits: false },
      { type: 'dkd', temperature: 2, alpha: 1, beta: 8, warmupEpochs: 5, labelWeight: 1, standardizeLogits: false },
      { type: 'dkd', temperature: 4, alpha: 1, beta: 8, warmupEpochs: 5, labelWeight: 1, standardizeLogits: false },
    ]);
    // the labels student under a method.type sweep becomes soft-targets/dkd candidates too; hard-labels has no temperature
    expect(plan.students.filter((s) => s.candidate?.group === 'labels')).toHaveLength(4);
    const labelsOnly = planStudents(
      experiment({
        students: [{ name: 'labels', model: mlp([8]), method: { type: 'hard-labels' } }],
        sweep: { 'method.temperature': [2, 4] },
      }),
    );
    expect(labelsOnly.students.map((s) => s.name)).toEqual(['labels']); // one candidate: no group at all
    expect(labelsOnly.groups).toEqual([]);
  });

  test('auto expands into its built-in candidates, labels first; every distilled architecture gets a labels baseline', () => {
    const plan = planStudents(
      experiment({
        students: [
          { name: 'a', model: mlp([8]), method: { type: 'auto' } },
          { name: 'kd', model: mlp([4]), method: { type: 'dkd' } },
        ],
      }),
    );
    expect(plan.groups[0]).toMatchObject({ name: 'a', auto: true });
    expect(plan.students.filter((s) => s.candidate?.group === 'a').map((s) => s.method)).toEqual(
      AUTO_CANDIDATES.classification,
    );
    expect(plan.addedBaselines).toEqual(['kd-labels']); // auto's own labels candidate serves its architecture
    expect(plan.students.at(-1)).toMatchObject({
      name: 'kd-labels',
      model: { hidden: [4] },
      method: { type: 'hard-labels' },
    });
    const regression = planStudents(
      parseExperiment({
        data: { task: 'regression', validation },
        teacher: { type: 'train', model: mlp([8]) },
        students: [{ name: 'r', model: mlp([4]), method: { type: 'auto' } }],
      }),
    );
    expect(regression.students.map((s) => s.method.type)).toEqual([
      'targets',
      'regression-distillation',
      'regression-distillation',
    ]);
  });

  test('bad sweeps are refused naming the field', () => {
    const refused = (overrides: Record<string, unknown>): string => {
      try {
        planStudents(experiment(overrides));
      } catch (error) {
        expect(error).toBeInstanceOf(ConfigError);
        return (error as ConfigError).message;
      }
      throw new Error('not refused');
    };
    expect(refused({ sweep: { 'method.temprature': [2] } })).toContain(
      `sweep["method.temprature"]: no method has a field 'temprature'`,
    );
    expect(refused({ sweep: { 'method.temperature': [-1] } })).toContain(
      'sweep["method.temperature"]: students[0] with {"method.temperature":-1}: method.temperature: expected a number > 0',
    );
    expect(refused({ sweep: { 'model.hiden': [[4]] } })).toContain('sweep["model.hiden"]');
    expect(() =>
      parseExperiment({
        teacher: { type: 'train', model: mlp([8]) },
        students: [{ name: 'a', model: mlp([4]), method: { type: 'auto' } }],
      }),
    ).toThrow(/students\[0\]\.method\.type: choosing between candidates needs data\.validation/);
    expect(() =>
      parseExperiment({
        teacher: { type: 'train', model: mlp([8]) },
        students: [{ name: 'a', model: mlp([4]), method: { type: 'dkd' } }],
        sweep: { 'method.beta': [1] },
      }),
    ).toThrow(/sweep: choosing between candidates needs data\.validation/);
    expect(() => experiment({ sweep: { name: [1] } })).toThrow(/sweep\.name: expected a student field path/);
  });
});

// Choosing between candidates (the noise-aware rule): test/selection.test.ts.

describe('paired tests', () => {
  test('exact McNemar against known binomial values', () => {
    expect(exactBinomialTwoSided(10, 2)).toBeCloseTo(0.03857421875, 10); // 2·(1 + 12 + 66)/4096
    expect(exactBinomialTwoSided(0, 0)).toBe(1);
    expect(exactBinomialTwoSided(5, 5)).toBe(1);
    expect(exactBinomialTwoSided(3000, 2900)).toBeGreaterThan(0.1);
    expect(exactBinomialTwoSided(3000, 2700)).toBeLessThan(1e-4);
    const test = mcnemarExact([true, true, false, true, false], [false, true, true, false, false]);
    expect(test).toEqual({ test: 'mcnemar-exact', firstBetter: 2, secondBetter: 1, pValue: 1 });
    expect(signTest([0.1, 0.5, 2], [0.2, 0.5, 1])).toMatchObject({ firstBetter: 1, secondBetter: 1 });
    expect(() => mcnemarExact([true], [true, false])).toThrow(/both models must be scored on the same samples/);
  });

  test('the verdict names who helped', () => {
    const right = (n: number, wrong: number[]) => Array.from({ length: n }, (_, i) => !wrong.includes(i));
    const wrongs = Array.from({ length: 20 }, (_, i) => i);
    const helped = verdict(
      'labels',
      { task: 'classification', right: right(100, [0]) },
      { task: 'classification', right: right(100, wrongs) },
    );
    expect(helped).toMatchObject({
      baseline: 'labels',
      errorsDelta: -19,
      studentBetter: 19,
      baselineBetter: 0,
      conclusion: 'helped',
    });
    const hurt = verdict(
      'labels',
      { task: 'classification', right: right(100, wrongs) },
      { task: 'classification', right: right(100, []) },
    );
    expect(hurt.conclusion).toBe('did not help');
    const same = verdict(
      'labels',
      { task: 'classification', right: right(100, [1, 2]) },
      { task: 'classification', right: right(100, [3]) },
    );
    expect(same).toMatchObject({ errorsDelta: 1, conclusion: 'no significant difference' });
  });

  test('a student that is its baseline (auto kept the labels student) is identical, stated without a test', () => {
    const identical = identicalVerdict('base', 'classification');
    expect(identical).toEqual({
      baseline: 'base',
      test: 'none',
      errorsDelta: 0,
      studentBetter: 0,
      baselineBetter: 0,
      pValue: 1,
      conclusion: 'identical',
    });
    expect(identicalVerdict('base', 'regression')).toMatchObject({ rmseDelta: 0, conclusion: 'identical' });
    const sentence = verdictSentence('pick-1', identical);
    expect(sentence).toMatch(/^\*\*pick-1\*\* is \*\*base\*\* .*identical/);
    expect(sentence).not.toMatch(/McNemar|p = /);
    // over seeds: identical on every seed stays identical, not "no significant difference (p = 1)"
    const seed = (s: number) =>
      ({
        name: 'x',
        seed: s,
        task: 'classification',
        teacher: { test: { accuracy: 0.9 } },
        students: [
          { name: 'pick-1', candidateOf: 'pick', sameAs: 'base', test: { accuracy: 0.8 }, verdict: identical },
        ],
      }) as unknown as RunReport;
    const pooled = summariseSeeds([seed(0), seed(1)], [0, 1], ['seed-0', 'seed-1']).students[0]!.verdict!;
    expect(pooled.pooled).toMatchObject({ studentBetter: 0, baselineBetter: 0, conclusion: 'identical' });
  });

  test('repeated or negative seeds are refused before anything runs', async () => {
    for (const seeds of [[0, 0], [], [-1]]) {
      await expect(
        runSeeds({ teacher: { type: 'train', model: mlp([8]) }, students: [] } as never, seeds, {
          outDir: '/nonexistent/out',
        }),
      ).rejects.toThrow(/seeds: expected distinct seeds >= 0/);
    }
  });

  test('seeds pool their discordant samples', () => {
    const report = (seed: number, studentBetter: number, baselineBetter: number) =>
      ({
        name: 'x',
        seed,
        task: 'classification',
        teacher: { test: { accuracy: 0.9 } },
        students: [
          {
            name: `kd-${seed + 1}`,
            candidateOf: 'kd',
            test: { accuracy: 0.8 + seed / 100 },
            verdict: {
              baseline: 'kd-labels',
              errorsDelta: baselineBetter - studentBetter,
              studentBetter,
              baselineBetter,
              pValue: exactBinomialTwoSided(studentBetter, baselineBetter),
              conclusion: 'no significant difference',
            },
          },
          { name: 'kd-labels', test: { accuracy: 0.78 } },
        ],
      }) as unknown as RunReport;
    const summary = summariseSeeds([report(0, 6, 1), report(1, 7, 2)], [0, 1], ['seed-0', 'seed-1']);
    const kd = summary.students[0]!;
    expect(kd).toMatchObject({ student: 'kd', models: ['kd-1', 'kd-2'], values: [0.8, 0.81] });
    expect(kd.mean).toBeCloseTo(0.805);
    expect(kd.verdict!.pooled).toEqual({
      studentBetter: 13,
      baselineBetter: 3,
      pValue: exactBinomialTwoSided(13, 3),
      conclusion: 'helped',
    });
    expect(kd.verdict!.errorsDelta).toEqual({ mean: -5, sd: 0 });
    expect(summary.students[1]!.verdict).toBeNull();
    // a seed where auto kept its labels candidate counts as no difference, not as a missing seed
    const labelsSeed = report(2, 0, 0);
    labelsSeed.students[0] = {
      name: 'kd-1',
      candidateOf: 'kd',
      method: { type: 'hard-labels' },
      test: { accuracy: 0.78 },
    } as unknown as ModelReport;
    const mixed = summariseSeeds([report(0, 6, 1), labelsSeed], [0, 2], ['seed-0', 'seed-2']);
    expect(mixed.students[0]!.verdict).toMatchObject({
      pValues: [exactBinomialTwoSided(6, 1), 1],
      pooled: { studentBetter: 6, baselineBetter: 1 },
    });
  });
});
