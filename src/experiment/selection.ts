/**
 * After training: which students the report shows and tests. Each sweep group keeps its reference candidate (auto:
 * the labels-trained one) unless another candidate is significantly better on the same rows — the validation rows,
 * or every row of data.train out of fold (k-fold selection, folds.ts) — never on a test metric: candidates are
 * trained without reading the test split at all. Each distilled student is then paired with the labels-trained
 * student of its architecture for the verdict.
 *
 * Why not the best validation score: six candidates scored on a few hundred rows differ mostly by noise, and the
 * largest of six noisy scores is biased upwards, so "the best on validation" hands users a worse student often
 * enough to matter (issue 26). The rule here is a paired exact test of each candidate against the reference on
 * the same rows (McNemar for classification, the sign test on absolute errors for regression), Holm-adjusted over
 * the candidates compared, at `evaluate.selection.level`.
 */
import * as fs from 'node:fs';
import { checked, ValidationPredictions, type ModelResult } from '../engine';
import { isLabelsTrained, labelsTwins, type CandidateGroup, type StudentPlan } from '../config/sweep';
import type { MethodConfig } from '../config/schema';
import { required } from '../core/required';
import { mcnemarExact, signTest } from '../eval/significance';

/** The rule that decides between a group's candidates (the only one; report.json names it). */
export const SELECTION_RULE = 'significant-over-reference';
/** The 95 % Wilson interval's z. */
const Z95 = 1.959963984540054;

/** A candidate's paired test against the group's reference, on the same rows. */
export interface PairedComparison {
  /** Rows where the candidate is right and the reference wrong (regression: a smaller absolute error). */
  candidateBetter: number;
  /** Rows where the reference is right and the candidate wrong (regression: a smaller absolute error). */
  referenceBetter: number;
  /** Two-sided exact binomial p of those counts (McNemar; sign test for regression). */
  pValue: number;
  /** p after Holm–Bonferroni over the group's other candidates. */
  holmPValue: number;
}

/** A candidate's score fold by fold (k-fold selection). */
export interface FoldScores {
  /** The mean of the folds' scores. */
  mean: number;
  /** Their sample standard deviation. */
  sd: number;
  /** Each fold's score, in fold order. */
  values: number[];
}

/** One candidate of a sweep: its overrides, method, score with its uncertainty, its test against the reference. */
export interface CandidateReport {
  /** The candidate's model name (`<student>-<k>`). */
  name: string;
  /** The values the sweep's grid set for it, by field path. */
  overrides: Record<string, unknown>;
  /** The method it was trained with. */
  method: MethodConfig | null;
  /** Accuracy (classification) or RMSE (regression) on the evidence rows: the validation rows of its kept epoch,
   * or (k-fold) every data.train row predicted by the fold that held it out. */
  validation: number;
  /** The 95 % Wilson interval of that accuracy; null for regression. */
  interval: [number, number] | null;
  /** k-fold: the score of each fold, their mean and sample sd; null when chosen on the validation split. */
  folds: FoldScores | null;
  /** Its paired test against the reference; null for the reference itself. */
  comparison: PairedComparison | null;
  /** true for the group's reference: the labels-trained candidate (auto's first), else the first. */
  reference: boolean;
  /** true for the candidate the sweep kept. */
  chosen: boolean;
  /** A labels-trained candidate that a student of the experiment already is (same model, method and training,
   * src/config/sweep.ts labelsTwins): that student, not trained again; on the validation split its rows are the evidence. */
  sameAs?: string;
}

/**
 * One sweep (or `auto`) group of a run: its candidates' scores, the rule that decided and the one that was kept;
 * only that one meets the test set.
 */
export interface SweepReport {
  /** The experiment's student that expanded into the candidates. */
  student: string;
  /** true when the group comes from `method: { type: 'auto' }` rather than a `sweep` block. */
  auto: boolean;
  /** The validation metric the candidates were compared on. */
  metric: 'validationAccuracy' | 'validationRmse';
  /** The rule: the reference stays unless a candidate is significantly better (Holm) and scores better. */
  rule: typeof SELECTION_RULE;
  /** The paired test: exact McNemar (classification) or the exact sign test on absolute errors (regression). */
  test: 'mcnemar-exact' | 'sign-test';
  /** The significance level (evaluate.selection.level). */
  level: number;
  /** What the candidates were compared on: the validation split, or every data.train row out of fold. */
  evidence: 'validation' | 'k-fold';
  /** The rows compared. */
  rows: number;
  /** k-fold: the number of folds; null for the validation split. */
  folds: number | null;
  /** The candidate the others were tested against. */
  reference: string;
  /** Every candidate, with its score. */
  candidates: CandidateReport[];
  /** The kept candidate's name. */
  chosen: string;
  /** auto kept the labels-trained candidate: no distilled candidate was significantly better. */
  labelsKept: boolean;
  /** The decision in one plain sentence. */
  summary: string;
}

/** One candidate's evidence: per row, right or wrong (classification) or its absolute error (regression). */
export interface RowEvidence {
  name: string;
  /** Classification: per row, whether the candidate's class is the label. */
  right?: readonly boolean[];
  /** Regression: per row, the mean absolute error over the outputs. */
  absError?: readonly number[];
  /** Accuracy or RMSE over the rows. */
  score: number;
  /** k-fold: each fold's score. */
  foldScores?: readonly number[];
}

/** The rule's outcome for one group: the index of the kept candidate and each candidate's comparison. */
export interface Decision {
  chosen: number;
  comparisons: (PairedComparison | null)[];
}

const higherIsBetter = (task: 'classification' | 'regression', a: number, b: number): boolean =>
  task === 'classification' ? a > b : a < b;

/**
 * The rule. Every candidate but the reference is compared with it on the same rows; the p-values are Holm-adjusted
 * over those m comparisons. A candidate may replace the reference only if its adjusted p is below `level`, the
 * test's majority of discordant rows is its own, and its score is better; among those the best score wins (ties:
 * the earlier). Otherwise the reference stays.
 */
export function decide(
  candidates: readonly RowEvidence[],
  referenceIndex: number,
  task: 'classification' | 'regression',
  level: number,
): Decision {
  const reference = required(candidates[referenceIndex], 'the reference candidate');
  const raw = candidates.map((candidate, index) => (index === referenceIndex ? null : paired(candidate, reference)));
  const adjusted = holm(raw.map((test) => test?.pValue ?? null));
  const comparisons = raw.map((test, index) =>
    test === null ? null : { ...test, holmPValue: required(adjusted[index], 'an adjusted p') },
  );
  let chosen = referenceIndex;
  candidates.forEach((candidate, index) => {
    const comparison = comparisons[index];
    if (!comparison || comparison.holmPValue >= level) return;
    if (comparison.candidateBetter <= comparison.referenceBetter) return;
    if (!higherIsBetter(task, candidate.score, reference.score)) return;
    const best = required(candidates[chosen], 'the kept candidate');
    if (chosen === referenceIndex || higherIsBetter(task, candidate.score, best.score)) chosen = index;
  });
  return { chosen, comparisons };
}

function paired(candidate: RowEvidence, reference: RowEvidence): Omit<PairedComparison, 'holmPValue'> {
  const test =
    candidate.right && reference.right
      ? mcnemarExact(candidate.right, reference.right)
      : signTest(
          required(candidate.absError, `${candidate.name}'s errors`),
          required(reference.absError, `${reference.name}'s errors`),
        );
  return { candidateBetter: test.firstBetter, referenceBetter: test.secondBetter, pValue: test.pValue };
}

/** Holm–Bonferroni adjusted p-values of the non-null entries (null stays null): step-down, monotone, capped at 1. */
export function holm(pValues: readonly (number | null)[]): (number | null)[] {
  const order = pValues
    .map((p, index) => ({ p, index }))
    .filter((entry): entry is { p: number; index: number } => entry.p !== null)
    .sort((a, b) => a.p - b.p || a.index - b.index);
  const m = order.length;
  const adjusted: (number | null)[] = pValues.map(() => null);
  let running = 0;
  order.forEach(({ p, index }, rank) => {
    running = Math.max(running, Math.min(1, (m - rank) * p));
    adjusted[index] = running;
  });
  return adjusted;
}

/** The 95 % Wilson score interval of `right` successes in `n` rows. */
export function wilsonInterval(right: number, n: number): [number, number] {
  if (n === 0) return [0, 1];
  const p = right / n;
  const z2 = Z95 * Z95;
  const centre = (p + z2 / (2 * n)) / (1 + z2 / n);
  const half = (Z95 * Math.sqrt((p * (1 - p)) / n + z2 / (4 * n * n))) / (1 + z2 / n);
  return [Math.max(0, centre - half), Math.min(1, centre + half)];
}

// ---------------------------------------------------------------- evidence from the engine's files

export type Predictions = ReturnType<typeof ValidationPredictions.parse>;

/** A student's `results/<name>.validation.json`, checked against its schema. */
export function readPredictions(file: string): Predictions {
  return checked(ValidationPredictions, JSON.parse(fs.readFileSync(file, 'utf8')), file);
}

/**
 * One candidate's evidence over one or more prediction files (k-fold: one per fold, in fold order, so that every
 * candidate's rows line up); the score is computed over all the rows together, as the engine computes its metric.
 */
export function evidenceOf(
  name: string,
  parts: readonly Predictions[],
  task: 'classification' | 'regression',
): RowEvidence {
  const scores = parts.map((part) => scoreOf(rowsOf(part, task), task));
  const rows = rowsOf({ rows: 0, prediction: [], target: [] }, task);
  for (const part of parts) merge(rows, rowsOf(part, task));
  const evidence: RowEvidence = { name, score: scoreOf(rows, task) };
  if (rows.right) evidence.right = rows.right;
  else evidence.absError = rows.absError;
  if (parts.length > 1) evidence.foldScores = scores;
  return evidence;
}

interface Rows {
  right?: boolean[];
  absError: number[];
  squaredSum: number;
  values: number;
}

function rowsOf(part: Predictions, task: 'classification' | 'regression'): Rows {
  if (part.prediction.length !== part.target.length) throw new Error('validation predictions: rows do not match');
  if (task === 'classification') {
    const right = part.prediction.map((value, index) => value === part.target[index]);
    return { right, absError: [], squaredSum: 0, values: right.length };
  }
  const rows: Rows = { absError: [], squaredSum: 0, values: 0 };
  part.prediction.forEach((prediction, index) => {
    const predicted = [prediction].flat();
    const target = [required(part.target[index], 'a target')].flat();
    let absolute = 0;
    predicted.forEach((value, k) => {
      const difference = value - required(target[k], 'a target value');
      absolute += Math.abs(difference);
      rows.squaredSum += difference * difference;
    });
    rows.absError.push(absolute / Math.max(1, predicted.length));
    rows.values += predicted.length;
  });
  return rows;
}

function merge(into: Rows, rows: Rows): void {
  if (rows.right) into.right = [...(into.right ?? []), ...rows.right];
  into.absError.push(...rows.absError);
  into.squaredSum += rows.squaredSum;
  into.values += rows.values;
}

function scoreOf(rows: Rows, task: 'classification' | 'regression'): number {
  if (task === 'classification') {
    const right = rows.right ?? [];
    return right.length ? right.filter(Boolean).length / right.length : 0;
  }
  return Math.sqrt(rows.squaredSum / Math.max(1, rows.values));
}

// ---------------------------------------------------------------- one group's report

/** The candidate every other one is tested against: the labels-trained one (auto lists it first), else the first. */
export function referenceIndex(methods: readonly (MethodConfig | null)[]): number {
  const labels = methods.findIndex((method) => method !== null && isLabelsTrained({ method }));
  return labels >= 0 ? labels : 0;
}

/** A group decided on its evidence: the report's block, with its plain sentence. */
export function decideGroup(
  group: CandidateGroup,
  methods: readonly (MethodConfig | null)[],
  evidence: readonly RowEvidence[],
  task: 'classification' | 'regression',
  options: { level: number; kind: 'validation' | 'k-fold'; folds: number | null },
): SweepReport {
  const reference = referenceIndex(methods);
  const { chosen, comparisons } = decide(evidence, reference, task, options.level);
  const rows = (evidence[0]?.right ?? evidence[0]?.absError ?? []).length;
  const candidates: CandidateReport[] = group.candidates.map((candidate, index) => {
    const mine = required(evidence[index], `the evidence of ${candidate.name}`);
    const right = mine.right?.filter(Boolean).length;
    return {
      ...candidate,
      method: methods[index] ?? null,
      validation: mine.score,
      interval: right === undefined ? null : wilsonInterval(right, rows),
      folds: mine.foldScores ? { ...meanSd(mine.foldScores), values: [...mine.foldScores] } : null,
      comparison: comparisons[index] ?? null,
      reference: index === reference,
      chosen: index === chosen,
    };
  });
  const kept = required(candidates[chosen], 'the kept candidate');
  const report: SweepReport = {
    student: group.name,
    auto: group.auto,
    metric: task === 'classification' ? 'validationAccuracy' : 'validationRmse',
    rule: SELECTION_RULE,
    test: task === 'classification' ? 'mcnemar-exact' : 'sign-test',
    level: options.level,
    evidence: options.kind,
    rows,
    folds: options.folds,
    reference: required(candidates[reference], 'the reference').name,
    candidates,
    chosen: kept.name,
    labelsKept: group.auto && kept.method !== null && isLabelsTrained({ method: kept.method }),
    summary: '',
  };
  report.summary = sentence(report, task);
  return report;
}

function meanSd(values: readonly number[]): { mean: number; sd: number } {
  const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
  const variance =
    values.length > 1 ? values.reduce((sum, value) => sum + (value - mean) ** 2, 0) / (values.length - 1) : 0;
  return { mean, sd: Math.sqrt(variance) };
}

const formatScore = (task: 'classification' | 'regression', value: number): string =>
  task === 'classification' ? `${(100 * value).toFixed(1)} %` : `RMSE ${value.toPrecision(4)}`;
const formatP = (p: number): string => (p < 0.001 ? p.toExponential(1) : p.toFixed(3));

/** The decision in words, for report.md and the run's output. */
function sentence(report: SweepReport, task: 'classification' | 'regression'): string {
  const reference = required(
    report.candidates.find((candidate) => candidate.reference),
    'the reference',
  );
  const where =
    report.evidence === 'k-fold'
      ? `all ${report.rows} rows of data.train, each predicted by the one of ${report.folds ?? '?'} folds that held it out`
      : `the ${report.rows} validation rows`;
  const test = report.test === 'mcnemar-exact' ? 'exact McNemar test' : 'exact sign test on absolute errors';
  const kept = required(
    report.candidates.find((candidate) => candidate.chosen),
    'the kept candidate',
  );
  if (!kept.reference) {
    const comparison = required(kept.comparison, "the kept candidate's test");
    return (
      `${kept.name} was significantly better than ${reference.name} on ${where}: ${formatScore(task, kept.validation)} ` +
      `against ${formatScore(task, reference.validation)}, better on ${comparison.candidateBetter} rows and worse on ` +
      `${comparison.referenceBetter} (${test}, Holm-adjusted p = ${formatP(comparison.holmPValue)} < ${report.level}); it is kept.`
    );
  }
  const rivals = report.candidates.filter(
    (candidate) => !candidate.reference && higherIsBetter(task, candidate.validation, reference.validation),
  );
  const what =
    reference.method !== null && isLabelsTrained({ method: reference.method }) ? 'distillation' : 'another candidate';
  const best = rivals.reduce<CandidateReport | undefined>(
    (top, candidate) =>
      top === undefined || higherIsBetter(task, candidate.validation, top.validation) ? candidate : top,
    undefined,
  );
  const closest = best?.comparison
    ? ` ${best.name} scored ${formatScore(task, best.validation)} against ${formatScore(task, reference.validation)}, ` +
      `a difference the noise can explain (Holm-adjusted p = ${formatP(best.comparison.holmPValue)}).`
    : '';
  return (
    `The evidence was too weak to prefer ${what}: no candidate was significantly better than ${reference.name} on ` +
    `${where} (${test}, Holm-adjusted over ${report.candidates.length - 1} candidates, level ${report.level}), ` +
    `so ${reference.name} is kept.${closest}`
  );
}

/**
 * The group's report with its labels twins named (`sameAs`); when the kept candidate is one, the summary says
 * plainly which student of the experiment the group keeps.
 */
export function withTwins(report: SweepReport, twins: ReadonlyMap<string, string>): SweepReport {
  if (!report.candidates.some((candidate) => twins.has(candidate.name))) return report;
  const candidates = report.candidates.map((candidate) => {
    const twin = twins.get(candidate.name);
    return twin === undefined ? candidate : { ...candidate, sameAs: twin };
  });
  const kept = twins.get(report.chosen);
  const said =
    kept === undefined
      ? ''
      : ` ${report.auto ? 'auto' : 'The sweep'} kept the labels-trained student: ${kept} (${report.chosen} has its ` +
        `model, method and training, so it is not trained again: ${report.student} is ${kept}, the same ONNX file ` +
        `and the same test results).`;
  return { ...report, candidates, summary: `${report.summary}${said}` };
}

// ---------------------------------------------------------------- the run's students

export interface Chosen {
  /** The students the report tests, in the engine's order: the non-candidates, each group's choice, and the
   * labels-trained candidates that a chosen student is judged against. */
  evaluated: ModelResult[];
  /** distilled student → its labels-trained baseline. */
  baselineOf: Map<string, string>;
  /** chosen candidate → the student it was chosen for. */
  candidateOf: Map<string, string>;
  /** chosen candidate that is a labels twin → the student that it is (trained once, under that student's name). */
  sameAs: Map<string, string>;
  sweeps: SweepReport[];
}

/**
 * Each group decided: on the validation rows of its candidates (their `validationPredictions` files), unless it was
 * decided already by k-fold selection (`decided`, by group; the plan then holds only the kept candidate).
 */
export function chooseStudents(
  plan: StudentPlan,
  results: readonly ModelResult[],
  task: 'classification' | 'regression',
  options: { level: number; decided?: ReadonlyMap<string, SweepReport> },
): Chosen {
  const byName = new Map(results.map((result) => [result.name, result]));
  const twins = labelsTwins(plan);
  const candidateOf = new Map<string, string>();
  const sameAs = new Map<string, string>();
  const sweeps: SweepReport[] = plan.groups.map((group) => {
    const decided = options.decided?.get(group.name) ?? decideOnValidation(group, byName, twins, task, options.level);
    const report = withTwins(decided, twins);
    candidateOf.set(report.chosen, group.name);
    const twin = twins.get(report.chosen);
    if (twin !== undefined) sameAs.set(report.chosen, twin);
    return report;
  });
  const plannedCandidate = new Set(plan.groups.flatMap((group) => group.candidates.map((candidate) => candidate.name)));
  const shown = results.filter((result) => !plannedCandidate.has(result.name) || candidateOf.has(result.name));
  const baselineOf = new Map<string, string>();
  const models = new Map(plan.students.map((student) => [student.name, JSON.stringify(student.model)]));
  for (const student of shown) {
    if (student.method === null || isLabelsTrained({ method: student.method })) continue;
    const baseline = findBaseline(student, shown, results, models);
    if (baseline) baselineOf.set(student.name, baseline.name);
  }
  const needed = new Set([...shown.map((result) => result.name), ...baselineOf.values()]);
  return {
    evaluated: results.filter((result) => needed.has(result.name)),
    baselineOf,
    candidateOf,
    sameAs,
    sweeps,
  };
}

/** A labels twin's evidence is its student's validation rows: the candidate is that student, trained once. */
function decideOnValidation(
  group: CandidateGroup,
  byName: ReadonlyMap<string, ModelResult>,
  twins: ReadonlyMap<string, string>,
  task: 'classification' | 'regression',
  level: number,
): SweepReport {
  const results = group.candidates.map((candidate) => {
    const trained = twins.get(candidate.name) ?? candidate.name;
    return required(byName.get(trained), `the candidate ${candidate.name}`);
  });
  const evidence = results.map((result, index) => {
    if (result.validationPredictions === undefined)
      throw new Error(`${result.name}: the engine returned no validation predictions for a sweep candidate`);
    const name = required(group.candidates[index], 'a candidate').name;
    return evidenceOf(name, [readPredictions(result.validationPredictions)], task);
  });
  return decideGroup(
    group,
    results.map((result) => result.method),
    evidence,
    task,
    { level, kind: 'validation', folds: null },
  );
}

/** The labels-trained student with the same model, preferring one the report shows anyway, then one in the same group. */
function findBaseline(
  student: ModelResult,
  shown: readonly ModelResult[],
  all: readonly ModelResult[],
  models: ReadonlyMap<string, string>,
): ModelResult | undefined {
  const model = models.get(student.name);
  const matches = (result: ModelResult): boolean =>
    result !== student &&
    result.method !== null &&
    isLabelsTrained({ method: result.method }) &&
    models.get(result.name) === model;
  return shown.find(matches) ?? all.find(matches);
}
