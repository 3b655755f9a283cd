/**
 * Warnings about models, for report.json (`warnings`), report.md and the CLI: a model that learned nothing useful
 * (checked on the test set, once every model is evaluated), and a teacher not worth distilling (checked on the
 * validation split: it is no clearer better than the labels-trained student, or it overfits). Each rule and its
 * thresholds are here, with the reason for them; docs/ERRORS.md lists each warning with its test.
 *
 * The detection functions are pure: they read metrics and per-row outcomes, never files. The one file reader,
 * {@link readValidationOutcomes}, reads the per-row validation predictions the engine writes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { methodTraits } from '../config/methods';
import type { MethodConfig } from '../config/schema';
import type { SampleOutcomes } from '../eval/evaluate';
import { mcnemarExact, signTest, type PairedTest } from '../eval/significance';
import { SIGNIFICANCE, formatP } from './verdict';
import type { RunWarning } from './report-types';

/** A warning about the data (from the engine or the data preparation), which names no model. */
export function dataWarning(message: string): RunWarning {
  return { kind: 'data', message };
}

/** A classifier answers one class for "most" test rows: more than this share of them… */
export const ONE_CLASS_SHARE = 0.5;
/** …and at least this many times as often as that class occurs in the test rows (a real majority is no collapse). */
export const ONE_CLASS_EXCESS = 2;
/** A teacher overfits when its training accuracy exceeds its validation accuracy by more than this (15 points). */
export const OVERFIT_GAP = 0.15;
/** Without per-row validation predictions, "clearly better" is an accuracy gap over this many standard errors. */
export const UNPAIRED_Z = 1.96;

const percent = (value: number): string => `${(100 * value).toFixed(1)} %`;

/** What {@link learnedNothing} reads of a model: its report, as far as the test set goes. */
export interface TestedModel {
  name: string;
  role: 'teacher' | 'student';
  method: MethodConfig | null;
  /** null: not measured on the test rows (a teacher given by answers that do not cover data.test). */
  test: { n: number; accuracy: number } | { n: number; rmse: number; r2: number } | null;
  /** `confusion[actual][predicted]` on the test rows (classifiers). */
  confusion?: number[][];
}

/**
 * A model that learned nothing useful, judged on the test rows against the best constant answer on those same rows
 * (the most a model that ignores its inputs can score there):
 *
 * - a classifier whose test accuracy is at or below the share of the test set's most frequent class (always
 *   answering that class scores exactly that share);
 * - a regression model whose test R² is at or below 0, i.e. whose RMSE is no better than predicting the test
 *   targets' mean;
 * - failing neither, a classifier that answers one class for more than half of the test rows, at least twice as
 *   often as the class occurs (`one-class`): collapsed onto that class, whatever its accuracy.
 *
 * A test set of a single class has no constant to beat, and gets no warning.
 *
 * @param classNames - class names by index, for the message (class indices when absent)
 */
export function learnedNothing(model: TestedModel, classNames: readonly string[] = []): RunWarning | undefined {
  if (model.test === null) return undefined;
  if ('rmse' in model.test) {
    if (model.test.r2 > 0) return undefined;
    const meanRmse = model.test.rmse / Math.sqrt(1 - model.test.r2);
    return {
      kind: 'learned-nothing',
      model: model.name,
      message: `${model.name}: test RMSE ${model.test.rmse.toPrecision(4)} is no better than predicting the test targets' mean (RMSE ${meanRmse.toPrecision(4)}; R² ${model.test.r2.toFixed(3)} ≤ 0): it learned nothing useful. ${likelyCauses(model)}`,
    };
  }
  if (!model.confusion) return undefined;
  const counts = classCounts(model.confusion);
  if (counts.n === 0 || counts.actual.filter((count) => count > 0).length < 2) return undefined;
  const majority = argmax(counts.actual);
  const majorityShare = (counts.actual[majority] ?? 0) / counts.n;
  const collapse = collapsedOnto(counts, classNames);
  // Compared in counts: an accuracy computed as 1 − errors/n can sit a rounding error above the same share.
  const correct = model.confusion.reduce((sum, row, k) => sum + (row[k] ?? 0), 0);
  if (correct <= (counts.actual[majority] ?? 0)) {
    return {
      kind: 'learned-nothing',
      model: model.name,
      message: `${model.name}: test accuracy ${percent(model.test.accuracy)} is at or below the ${percent(majorityShare)} of always answering the test set's most frequent class (${className(majority, classNames)}): it learned nothing useful${collapse ? `; ${collapse}` : ''}. ${likelyCauses(model)}`,
    };
  }
  if (!collapse) return undefined;
  return {
    kind: 'one-class',
    model: model.name,
    message: `${model.name}: ${collapse}, although its test accuracy (${percent(model.test.accuracy)}) beats the ${percent(majorityShare)} of always answering the most frequent class. ${likelyCauses(model)}`,
  };
}

interface ClassCounts {
  n: number;
  /** Test rows per actual class (the confusion matrix's row sums). */
  actual: number[];
  /** Test rows per predicted class (its column sums). */
  predicted: number[];
}

function classCounts(confusion: readonly (readonly number[])[]): ClassCounts {
  const classes = Math.max(confusion.length, ...confusion.map((row) => row.length));
  const actual = Array.from({ length: classes }, (_, k) => (confusion[k] ?? []).reduce((sum, count) => sum + count, 0));
  const predicted = Array.from({ length: classes }, (_, k) => confusion.reduce((sum, row) => sum + (row[k] ?? 0), 0));
  return { n: actual.reduce((sum, count) => sum + count, 0), actual, predicted };
}

/** "answers X for 51 of the 86 test rows (59.3 %), a class that is 15 of them (17.4 %)", or undefined. */
function collapsedOnto(counts: ClassCounts, classNames: readonly string[]): string | undefined {
  const top = argmax(counts.predicted);
  const answered = counts.predicted[top] ?? 0;
  const occurs = counts.actual[top] ?? 0;
  if (answered <= ONE_CLASS_SHARE * counts.n || answered < ONE_CLASS_EXCESS * occurs) return undefined;
  return `it answers ${className(top, classNames)} for ${answered} of the ${counts.n} test rows (${percent(answered / counts.n)}), a class that is ${occurs} of them (${percent(occurs / counts.n)})`;
}

function argmax(values: readonly number[]): number {
  return values.reduce((best, value, index) => (value > (values[best] ?? -Infinity) ? index : best), 0);
}

function className(index: number, classNames: readonly string[]): string {
  const name = classNames[index];
  return name === undefined ? `class ${index}` : `'${name}'`;
}

/** The likely causes of a model that learned nothing, and where to change them. */
function likelyCauses(model: TestedModel): string {
  const causes = ['a learning rate too high or too low (training.optimizer.lr)'];
  const temperature = model.method && 'temperature' in model.method ? model.method.temperature : undefined;
  if (typeof temperature === 'number')
    causes.push(
      `a temperature that flattens the teacher's outputs (method.temperature ${temperature}: try 1 or 2, or method: auto)`,
    );
  else if (model.method && methodTraits(model.method.type).needsTeacher) causes.push("the method's options (method)");
  causes.push('too few epochs (training.epochs)', 'too small a model (model)');
  if (model.method && methodTraits(model.method.type).needsTeacher)
    causes.push('a teacher that learned nothing itself');
  return `Likely causes: ${causes.join(', ')}; or inputs that do not predict the target at all.`;
}

/** A model's evidence on the validation split: its kept epoch's score, and its per-row outcomes when written. */
export interface ValidationEvidence {
  name: string;
  /** Validation accuracy (classification) or RMSE (regression) of the kept epoch. */
  score?: number;
  /** Validation rows (for the unpaired margin, when there are no per-row outcomes). */
  rows?: number;
  /** Per-row outcomes on the validation rows (results/<name>.validation.json). */
  outcomes?: SampleOutcomes;
}

/**
 * A teacher not clearly better than a labels-trained student on validation: little to transfer to a student of that
 * architecture. "Clearly better" is the verdict's own rule on the validation rows — the exact McNemar test
 * (regression: the exact sign test) at p < 0.05, the teacher ahead — when both models' per-row validation predictions
 * exist. Without them: a validation accuracy above the student's by more than 1.96 standard errors of the difference
 * of two independent proportions (pairing would only narrow it: this margin is the cautious one); for regression, a
 * validation RMSE below the student's.
 */
export function teacherNotBetter(
  teacher: ValidationEvidence,
  student: ValidationEvidence,
  task: 'classification' | 'regression',
): RunWarning | undefined {
  const paired = pairedOnValidation(teacher, student);
  const scores = `${scoreText(teacher.score, task)} against ${scoreText(student.score, task)}`;
  let evidence: string;
  if (paired) {
    if (paired.firstBetter > paired.secondBetter && paired.pValue < SIGNIFICANCE) return undefined;
    const test = paired.test === 'mcnemar-exact' ? 'exact McNemar' : 'exact sign test';
    evidence = `${scores}; ${paired.firstBetter} validation rows only the teacher gets ${task === 'classification' ? 'right' : 'closer'}, ${paired.secondBetter} only the student; p = ${formatP(paired.pValue)} (${test})`;
  } else {
    const margin = unpairedMargin(teacher, student, task);
    if (margin === undefined || margin.clearlyBetter) return undefined;
    evidence = `${scores}${margin.needed === undefined ? '' : ` (a gap of ${margin.needed} would be clear)`}`;
  }
  return {
    kind: 'teacher-not-better',
    model: teacher.name,
    message: `${teacher.name}: the teacher is not clearly better than ${student.name} (trained on the labels) on validation — ${evidence}: it has little to transfer to a student of that size. Make the teacher stronger (training.schedule: { type: 'cosine' }, training.augment: shift and flip for images, noise or mixup for tables, training.checkpoint: 'best', more epochs or a larger model; docs/CONFIG.md), or keep the labels-trained student.`,
  };
}

function pairedOnValidation(teacher: ValidationEvidence, student: ValidationEvidence): PairedTest | undefined {
  const [a, b] = [teacher.outcomes, student.outcomes];
  if (!a || !b) return undefined;
  if (a.task === 'classification' && b.task === 'classification' && a.right.length === b.right.length)
    return mcnemarExact(a.right, b.right);
  if (a.task === 'regression' && b.task === 'regression' && a.squaredError.length === b.squaredError.length)
    return signTest(a.squaredError, b.squaredError);
  return undefined;
}

function unpairedMargin(
  teacher: ValidationEvidence,
  student: ValidationEvidence,
  task: 'classification' | 'regression',
): { clearlyBetter: boolean; needed?: string } | undefined {
  const [t, s] = [teacher.score, student.score];
  if (t === undefined || s === undefined) return undefined;
  if (task === 'regression') return { clearlyBetter: t < s };
  const n = teacher.rows ?? student.rows;
  if (!n) return undefined;
  const margin = UNPAIRED_Z * Math.sqrt((t * (1 - t)) / n + (s * (1 - s)) / n);
  return { clearlyBetter: t - s > margin, needed: `${(100 * margin).toFixed(1)} points on ${n} rows` };
}

function scoreText(score: number | undefined, task: 'classification' | 'regression'): string {
  if (score === undefined) return '—';
  return task === 'classification' ? percent(score) : `RMSE ${score.toPrecision(4)}`;
}

/**
 * A teacher that overfits: its kept epoch's training accuracy more than 15 points above its validation accuracy
 * (the issue's CIFAR teacher: 92.6 % on its training rows, about 57 % elsewhere). The training accuracy is the one
 * the engine records while it trains (augmented batches, dropout on), so it is if anything below the model's
 * accuracy on its training rows, and the gap an underestimate. Classifiers only: the engine records no training
 * RMSE.
 */
export function teacherOverfits(
  name: string,
  kept: { trainAccuracy?: number; validationAccuracy?: number },
): RunWarning | undefined {
  const { trainAccuracy, validationAccuracy } = kept;
  if (trainAccuracy === undefined || validationAccuracy === undefined) return undefined;
  const gap = trainAccuracy - validationAccuracy;
  if (gap <= OVERFIT_GAP) return undefined;
  return {
    kind: 'teacher-overfits',
    model: name,
    message: `${name}: the teacher overfits — ${percent(trainAccuracy)} on its training rows against ${percent(validationAccuracy)} on validation at its kept epoch (${(100 * gap).toFixed(1)} points apart, over ${100 * OVERFIT_GAP}): what it passes on is partly the noise of its training rows. Regularise it: training.augment (shift and flip for images, noise or mixup for tables), training.weightDecay, dropout in the model, training.schedule: { type: 'cosine' }, training.checkpoint: 'best' (the epoch best on validation), or fewer epochs (docs/CONFIG.md).`,
  };
}

/**
 * The kept epoch's per-row outcomes on the validation split, from `results/<name>.validation.json` (rows, prediction,
 * target: class indices, or one list of values per row for regression); undefined when the file is absent or not of
 * that shape.
 */
export function readValidationOutcomes(outDir: string, name: string): SampleOutcomes | undefined {
  const file = path.join(outDir, 'results', `${name}.validation.json`);
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch {
    return undefined; // no validation split, or a model for which the engine writes none (a loaded teacher)
  }
  return outcomesOf(parsed);
}

/** Per-row outcomes from a validation predictions file's content; undefined when it has another shape. */
export function outcomesOf(content: unknown): SampleOutcomes | undefined {
  if (typeof content !== 'object' || content === null) return undefined;
  const { prediction, target } = content as { prediction?: unknown; target?: unknown };
  if (!Array.isArray(prediction) || !Array.isArray(target) || prediction.length !== target.length) return undefined;
  if (prediction.every((value) => typeof value === 'number') && target.every((value) => typeof value === 'number'))
    return { task: 'classification', right: prediction.map((value, i) => value === target[i]) };
  if (!isRows(prediction) || !isRows(target)) return undefined;
  return {
    task: 'regression',
    squaredError: prediction.map((row, i) =>
      row.reduce((sum, value, j) => sum + (value - (target[i]?.[j] ?? NaN)) ** 2, 0),
    ),
  };
}

function isRows(values: unknown[]): values is number[][] {
  return values.every((row) => Array.isArray(row) && row.every((value) => typeof value === 'number'));
}

/** A model's kept-epoch metrics, as far as the validation rules read them. */
export interface KeptMetrics {
  trainAccuracy?: number;
  validationAccuracy?: number;
  validationErrors?: number;
  validationRmse?: number;
}

/** What {@link teacherWarnings} reads of a run: the teacher and every student the engine trained. */
export interface TrainedRun {
  task: 'classification' | 'regression';
  teacher: { name: string; metrics: KeptMetrics };
  /** Every student trained, sweep candidates included; `model` is its architecture as configured. */
  students: { name: string; model: unknown; labelsTrained: boolean; metrics: KeptMetrics }[];
  /** A model's per-row validation outcomes, when the engine wrote them ({@link readValidationOutcomes}). */
  validationOutcomes: (name: string) => SampleOutcomes | undefined;
}

/**
 * The teacher's warnings, on validation only (none without a validation split): it overfits, and, for each
 * architecture that a distilled student has, it is not clearly better than the best labels-trained student of that
 * architecture (the strongest competitor, so the one that decides whether there is anything to transfer).
 */
export function teacherWarnings(trained: TrainedRun): RunWarning[] {
  const { task, teacher } = trained;
  const warnings: RunWarning[] = [];
  const overfits = teacherOverfits(teacher.name, teacher.metrics);
  if (overfits) warnings.push(overfits);
  const teacherScore = keptScore(teacher.metrics, task);
  if (teacherScore === undefined) return warnings;
  const teacherOutcomes = trained.validationOutcomes(teacher.name);
  for (const student of strongestLabelsStudents(trained)) {
    const outcomes = trained.validationOutcomes(student.name);
    const rows =
      validationRows(teacher.metrics) ??
      (teacherOutcomes && outcomeRows(teacherOutcomes)) ??
      (outcomes && outcomeRows(outcomes));
    const warning = teacherNotBetter(
      { name: teacher.name, score: teacherScore, rows, outcomes: teacherOutcomes },
      { name: student.name, score: keptScore(student.metrics, task), rows, outcomes },
      task,
    );
    if (warning) warnings.push(warning);
  }
  return warnings;
}

/** Per architecture that some distilled student has, its labels-trained student with the best validation score. */
function strongestLabelsStudents(trained: TrainedRun): TrainedRun['students'] {
  const key = (student: { model: unknown }): string => JSON.stringify(student.model);
  const distilled = new Set(trained.students.filter((student) => !student.labelsTrained).map(key));
  const best = new Map<string, { student: TrainedRun['students'][number]; score: number }>();
  for (const student of trained.students) {
    const score = student.labelsTrained ? higherIsBetter(student.metrics, trained.task) : undefined;
    if (score === undefined || !distilled.has(key(student))) continue;
    const current = best.get(key(student));
    if (!current || score > current.score) best.set(key(student), { student, score });
  }
  return [...best.values()].map(({ student }) => student);
}

function keptScore(metrics: KeptMetrics, task: 'classification' | 'regression'): number | undefined {
  return task === 'classification' ? metrics.validationAccuracy : metrics.validationRmse;
}

function higherIsBetter(metrics: KeptMetrics, task: 'classification' | 'regression'): number | undefined {
  const score = keptScore(metrics, task);
  return score === undefined ? undefined : task === 'classification' ? score : -score;
}

/** Validation rows from a classifier's kept accuracy and error count (errors = rows × (1 − accuracy)). */
function validationRows(metrics: KeptMetrics): number | undefined {
  const { validationAccuracy: accuracy, validationErrors: errors } = metrics;
  if (accuracy === undefined || errors === undefined || accuracy >= 1) return undefined;
  return Math.round(errors / (1 - accuracy));
}

function outcomeRows(outcomes: SampleOutcomes): number {
  return outcomes.task === 'classification' ? outcomes.right.length : outcomes.squaredError.length;
}

/** What {@link modelWarnings} reads of a finished run. */
export interface FinishedRun {
  task: 'classification' | 'regression';
  /** The reports of the tested models, the teacher first. */
  reports: readonly TestedModel[];
  /** Class names by index (the confusion matrix's order); empty when unknown. */
  classNames: readonly string[];
  /** What the engine returned for the teacher and for every student it trained (sweep candidates included). */
  teacher: { name: string; metrics: KeptMetrics };
  students: readonly { name: string; metrics: KeptMetrics }[];
  /** The students as planned (sweeps and auto expanded): each one's architecture and method. */
  planned: readonly { name: string; model: unknown; labelsTrained: boolean }[];
  /** A model's per-row validation outcomes, when the engine wrote them ({@link readValidationOutcomes}). */
  validationOutcomes: (name: string) => SampleOutcomes | undefined;
}

/** Every model warning of a run, in the report's order: the teacher's (validation, then test), then each student's. */
export function modelWarnings(finished: FinishedRun): RunWarning[] {
  const planned = new Map(finished.planned.map((student) => [student.name, student]));
  const students = finished.students.flatMap((student) => {
    const plan = planned.get(student.name);
    return plan ? [{ ...student, model: plan.model, labelsTrained: plan.labelsTrained }] : [];
  });
  const [teacher, ...tested] = finished.reports;
  const fromTest = (model: TestedModel | undefined): RunWarning[] => {
    const warning = model && learnedNothing(model, finished.classNames);
    return warning ? [warning] : [];
  };
  return [
    ...teacherWarnings({
      task: finished.task,
      teacher: finished.teacher,
      students,
      validationOutcomes: finished.validationOutcomes,
    }),
    ...fromTest(teacher),
    ...tested.flatMap(fromTest),
  ];
}
