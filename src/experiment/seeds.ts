/**
 * `--seeds 0,1,2`: the whole experiment once per seed, each in its own run folder (`<outDir>/seed-<s>`), then a
 * summary over the seeds: mean ± sd of each student's test score, and the verdict pooled over the seeds — the
 * exact McNemar (or sign) test on the discordant samples of every seed together, next to each seed's own p.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../config/errors';
import type { ExperimentConfig, ExperimentInput } from '../config/schema';
import { exactBinomialTwoSided } from '../eval/significance';
import { writeFileAtomic } from '../io/files';
import { MANIFEST } from '../io/run-folder';
import { markdownTable } from './report';
import type { ModelReport, RunReport, TeacherReport } from './report-types';
import { run, type RunOptions } from './run';
import { SIGNIFICANCE, formatP, type Conclusion, type Verdict } from './verdict';
import { isLabelsTrained } from '../config/sweep';
import { required } from '../core/required';

/** One student of a multi-seed run, summarised over the seeds: its test metric's mean and spread, and its verdict. */
export interface SeedStudentSummary {
  /** The experiment's student (a sweep's chosen candidate is summarised under the student it stands for). */
  student: string;
  /** Per seed: the model the report tested. */
  models: string[];
  /** The test metric summarised: accuracy (classification) or RMSE (regression). */
  metric: 'accuracy' | 'rmse';
  /** The metric's mean over the seeds. */
  mean: number;
  /** The metric's sample standard deviation over the seeds (0 for one seed). */
  sd: number;
  /** The metric per seed, in the order of `seeds`. */
  values: number[];
  /** Distilled students: the verdict per seed, and pooled over every seed's test samples. */
  verdict: null | {
    /** The labels-trained student it is compared with. */
    baseline: string;
    /** Test errors of the student minus the baseline's, over the seeds (classification); null for regression. */
    errorsDelta: {
      /** Mean over the seeds. */
      mean: number;
      /** Sample standard deviation over the seeds. */
      sd: number;
    } | null;
    /** Each seed's p-value. */
    pValues: number[];
    /** Each seed's conclusion. */
    conclusions: Conclusion[];
    /** One test over every seed's test samples together. */
    pooled: {
      /** Test samples, over all seeds, that only the student gets right (or predicts closer). */
      studentBetter: number;
      /** Test samples, over all seeds, that only the baseline gets right (or predicts closer). */
      baselineBetter: number;
      /** Two-sided exact binomial p-value of those counts. */
      pValue: number;
      /** helped / did not help / no significant difference, at p < 0.05. */
      conclusion: Conclusion;
    };
  };
}

/** What {@link runSeeds} returns (and writes as `seeds.json`): each model's test metric over several seeds. */
export interface SeedsReport {
  /** The experiment's name. */
  name: string;
  /** The seeds run, in order. */
  seeds: number[];
  /** Each seed's run folder, relative to `outDir`. */
  runs: string[];
  /** The teacher's test metric over the seeds. */
  teacher: {
    /** accuracy (classification) or RMSE (regression). */
    metric: 'accuracy' | 'rmse';
    /** Mean over the seeds. */
    mean: number;
    /** Sample standard deviation over the seeds. */
    sd: number;
    /** Per seed. */
    values: number[];
  };
  /** Each student, summarised over the seeds. */
  students: SeedStudentSummary[];
}

// NaN for a teacher not measured on the test rows (given by answers without data.test): no figure, not a zero.
const quality = (model: ModelReport | TeacherReport): number =>
  model.test === null ? NaN : 'accuracy' in model.test ? model.test.accuracy : model.test.rmse;

export function meanSd(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance =
    values.length > 1 ? values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, sd: Math.sqrt(variance) };
}

/** Runs the experiment once per seed and writes `seeds.json` and `seeds.md` into `outDir`. */
export async function runSeeds(
  experiment: ExperimentInput | ExperimentConfig,
  seeds: readonly number[],
  options: RunOptions & { outDir: string },
): Promise<SeedsReport> {
  if (
    seeds.length === 0 ||
    new Set(seeds).size !== seeds.length ||
    seeds.some((seed) => !Number.isInteger(seed) || seed < 0)
  ) {
    throw new ConfigError([
      { path: 'seeds', message: `expected distinct seeds >= 0, e.g. 0,1,2 (got ${seeds.join(',') || 'none'})` },
    ]);
  }
  const reports: RunReport[] = [];
  const runs: string[] = [];
  for (const seed of seeds) {
    const folder = path.join(options.outDir, `seed-${seed}`);
    // --resume goes on with the seeds a cut-off run started and starts the others
    const resume = options.resume === true && fs.existsSync(path.join(folder, MANIFEST));
    reports.push(await run(experiment, { ...options, seed, outDir: folder, resume }));
    runs.push(path.relative(options.outDir, folder));
  }
  const summary = summariseSeeds(reports, seeds, runs);
  writeFileAtomic(path.join(options.outDir, 'seeds.json'), JSON.stringify(summary, null, 2));
  writeFileAtomic(path.join(options.outDir, 'seeds.md'), seedsMarkdown(summary, options.command ?? 'runSeeds()'));
  return summary;
}

export function summariseSeeds(
  reports: readonly RunReport[],
  seeds: readonly number[],
  runs: readonly string[],
): SeedsReport {
  const first = required(reports[0], "the first seed's report");
  const metric = first.task === 'classification' ? 'accuracy' : 'rmse';
  const teacherValues = reports.map((report) => quality(report.teacher));
  const students = first.students.map((model) => model.candidateOf ?? model.name);
  return {
    name: first.name,
    seeds: [...seeds],
    runs: [...runs],
    teacher: { metric, ...meanSd(teacherValues), values: teacherValues },
    students: students.map((student) => {
      const models = reports.map((report) => {
        const found = report.students.find((model) => (model.candidateOf ?? model.name) === student);
        if (!found) throw new Error(`seed ${report.seed}: no student ${student} in its report`);
        return found;
      });
      const values = models.map(quality);
      return {
        student,
        models: models.map((model) => model.name),
        metric,
        ...meanSd(values),
        values,
        verdict: pooledVerdict(models),
      };
    }),
  };
}

/**
 * A seed where a sweep (auto) kept its labels-trained candidate counts as no difference from labels: the student
 * *is* a labels student there (no discordant samples), rather than dropping the seed and pooling the others alone.
 */
function labelsKept(model: ModelReport): Verdict | undefined {
  if (
    model.verdict ||
    model.candidateOf === undefined ||
    model.method === null ||
    !isLabelsTrained({ method: model.method })
  )
    return model.verdict;
  return {
    baseline: model.name,
    test: 'accuracy' in model.test ? 'mcnemar-exact' : 'sign-test',
    ...('accuracy' in model.test ? { errorsDelta: 0 } : { rmseDelta: 0 }),
    studentBetter: 0,
    baselineBetter: 0,
    pValue: 1,
    conclusion: 'no significant difference',
  };
}

function pooledVerdict(models: readonly ModelReport[]): SeedStudentSummary['verdict'] {
  if (models.every((model) => model.verdict === undefined)) return null;
  const verdicts = models.map(labelsKept);
  if (verdicts.some((verdict) => verdict === undefined)) return null;
  const all = verdicts as Verdict[];
  const studentBetter = all.reduce((sum, verdict) => sum + verdict.studentBetter, 0);
  const baselineBetter = all.reduce((sum, verdict) => sum + verdict.baselineBetter, 0);
  const pValue = exactBinomialTwoSided(studentBetter, baselineBetter);
  const conclusion: Conclusion = all.every((verdict) => verdict.conclusion === 'identical')
    ? 'identical'
    : pValue >= SIGNIFICANCE || studentBetter === baselineBetter
      ? 'no significant difference'
      : studentBetter > baselineBetter
        ? 'helped'
        : 'did not help';
  const deltas = all.map((verdict) => verdict.errorsDelta).filter((delta): delta is number => delta !== undefined);
  return {
    baseline:
      all.find((verdict) => verdict.studentBetter + verdict.baselineBetter > 0)?.baseline ??
      required(all[0], 'a verdict').baseline,
    errorsDelta: deltas.length === all.length ? meanSd(deltas) : null,
    pValues: all.map((verdict) => verdict.pValue),
    conclusions: all.map((verdict) => verdict.conclusion),
    pooled: { studentBetter, baselineBetter, pValue, conclusion },
  };
}

export function seedsMarkdown(summary: SeedsReport, command: string): string {
  const percent = (value: number): string => (100 * value).toFixed(2);
  const show = (mean: number, sd: number): string =>
    summary.teacher.metric === 'accuracy'
      ? `${percent(mean)} ± ${percent(sd)} %`
      : `${mean.toPrecision(4)} ± ${sd.toPrecision(2)}`;
  const rows = [
    [
      'model',
      `test ${summary.teacher.metric} (mean ± sd)`,
      'per seed',
      'errors vs labels (mean ± sd)',
      'p per seed',
      'pooled p',
      'verdict',
    ],
  ];
  rows.push([
    'teacher',
    show(summary.teacher.mean, summary.teacher.sd),
    summary.teacher.values.map((v) => v.toPrecision(4)).join(', '),
    '—',
    '—',
    '—',
    '—',
  ]);
  for (const student of summary.students) {
    const verdict = student.verdict;
    rows.push([
      student.student,
      show(student.mean, student.sd),
      student.values.map((v) => v.toPrecision(4)).join(', '),
      verdict?.errorsDelta ? `${verdict.errorsDelta.mean.toFixed(1)} ± ${verdict.errorsDelta.sd.toFixed(1)}` : '—',
      verdict ? verdict.pValues.map(formatP).join(', ') : '—',
      verdict ? formatP(verdict.pooled.pValue) : '—',
      verdict ? verdictWords(verdict.pooled.conclusion) : '—',
    ]);
  }
  return [
    `# ${summary.name}: ${summary.seeds.length} seeds (${summary.seeds.join(', ')})`,
    '',
    `Each seed is a full run (${summary.runs.join(', ')}). The pooled p is the exact test on every seed's discordant test samples together.`,
    '',
    markdownTable(rows),
    '',
    '```sh',
    command,
    '```',
    '',
  ].join('\n');
}

export function verdictWords(conclusion: Conclusion): string {
  return {
    helped: 'distillation helped',
    'did not help': 'distillation did not help (worse)',
    'no significant difference': 'no significant difference',
    identical: 'identical (the labels-trained student was kept)',
  }[conclusion];
}
