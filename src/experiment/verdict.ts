/**
 * The verdict: did distillation help this student? Each distilled student is compared on the test set with the
 * same architecture trained on the labels — the exact McNemar test on who gets which sample right (regression: the
 * exact sign test on who has the smaller error). The test set is read here once, after every choice was made on
 * the validation split.
 */
import { mcnemarExact, signTest, type PairedTest } from '../eval/significance';
import type { SampleOutcomes } from '../eval/evaluate';
import { required } from '../core/required';

/** p below this is called significant (two-sided). */
export const SIGNIFICANCE = 0.05;

/**
 * What a verdict concludes, at p < 0.05: distilling helped, did not help (significantly worse), or no significant
 * difference from training on the labels; `identical` when the student is its baseline (auto or a sweep kept the
 * labels-trained student: one model, so there is nothing to test).
 */
export type Conclusion = 'helped' | 'did not help' | 'no significant difference' | 'identical';

/**
 * Whether distilling helped a student: a paired test, on the test split, against the same architecture trained on the
 * labels (McNemar's exact test for classifiers, a sign test for regression).
 */
export interface Verdict {
  /** The labels-trained student of the same architecture. */
  baseline: string;
  /** The paired test used; `none` for an identical student (no test is run). */
  test: PairedTest['test'] | 'none';
  /** Test errors of the student minus the baseline's (classification; negative: fewer errors). */
  errorsDelta?: number;
  /** Test RMSE of the student minus the baseline's (regression). */
  rmseDelta?: number;
  /** Test samples only the student gets right (or predicts closer), and only the baseline. */
  studentBetter: number;
  /** Test samples only the baseline gets right (or predicts closer). */
  baselineBetter: number;
  /** The test's two-sided p-value; 1 for an identical student (no sample differs, no test is run). */
  pValue: number;
  /** helped / did not help (significantly worse) / no significant difference, at p < 0.05. */
  conclusion: Conclusion;
}

export function verdict(baseline: string, student: SampleOutcomes, reference: SampleOutcomes): Verdict {
  if (student.task === 'classification' && reference.task === 'classification') {
    const paired = mcnemarExact(student.right, reference.right);
    const errorsDelta = paired.secondBetter - paired.firstBetter; // errors(student) − errors(baseline)
    return finish(baseline, paired, { errorsDelta }, -errorsDelta);
  }
  if (student.task === 'regression' && reference.task === 'regression') {
    const paired = signTest(student.squaredError, reference.squaredError);
    const rmse = (errors: number[]): number =>
      Math.sqrt(errors.reduce((sum, value) => sum + value, 0) / Math.max(1, errors.length));
    const rmseDelta = rmse(student.squaredError) - rmse(reference.squaredError);
    return finish(baseline, paired, { rmseDelta }, paired.firstBetter - paired.secondBetter);
  }
  throw new Error(`verdict: ${baseline} and its student solve different tasks`);
}

/**
 * The verdict of a group's student that is its baseline (a labels twin, src/config/sweep.ts): the same ONNX file,
 * so the same outcome on every test sample. Stated as such, rather than as a McNemar test of a model against itself.
 */
export function identicalVerdict(baseline: string, task: 'classification' | 'regression'): Verdict {
  return {
    baseline,
    test: 'none',
    ...(task === 'classification' ? { errorsDelta: 0 } : { rmseDelta: 0 }),
    studentBetter: 0,
    baselineBetter: 0,
    pValue: 1,
    conclusion: 'identical',
  };
}

function finish(
  baseline: string,
  paired: PairedTest,
  delta: { errorsDelta?: number; rmseDelta?: number },
  advantage: number,
): Verdict {
  const conclusion: Conclusion =
    paired.pValue >= SIGNIFICANCE || advantage === 0
      ? 'no significant difference'
      : advantage > 0
        ? 'helped'
        : 'did not help';
  return {
    baseline,
    test: paired.test,
    ...delta,
    studentBetter: paired.firstBetter,
    baselineBetter: paired.secondBetter,
    pValue: paired.pValue,
    conclusion,
  };
}

/** The verdict in words, for report.md. */
export function verdictSentence(student: string, verdict: Verdict): string {
  if (verdict.conclusion === 'identical')
    return `**${student}** is **${verdict.baseline}** (labels, same architecture, same training): identical — its group (auto or a sweep) kept the labels-trained student, so they are one model, one ONNX file, the same test results; there is nothing to test.`;
  let delta: string;
  if (verdict.errorsDelta !== undefined) {
    delta = `${verdict.errorsDelta > 0 ? '+' : ''}${verdict.errorsDelta} test errors`;
  } else {
    const rmse = required(verdict.rmseDelta, "a regression verdict's RMSE change");
    delta = `RMSE ${rmse > 0 ? '+' : ''}${rmse.toPrecision(3)}`;
  }
  const words = {
    helped: 'distillation helped',
    'did not help': 'distillation did not help: the student is significantly worse',
    'no significant difference': 'no significant difference',
  }[verdict.conclusion];
  const test = verdict.test === 'mcnemar-exact' ? 'exact McNemar' : 'exact sign test';
  return `**${student}** vs **${verdict.baseline}** (labels, same architecture): ${words} — ${delta}; ${verdict.studentBetter} samples only the student gets right, ${verdict.baselineBetter} only the baseline; p = ${formatP(verdict.pValue)} (${test}).`;
}

export function formatP(p: number): string {
  return p < 1e-4 ? p.toExponential(1) : p.toFixed(4);
}
