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
 * difference from training on the labels.
 */
export type Conclusion = 'helped' | 'did not help' | 'no significant difference';

/**
 * Whether distilling helped a student: a paired test, on the test split, against the same architecture trained on the
 * labels (McNemar's exact test for classifiers, a sign test for regression).
 */
export interface Verdict {
  /** The labels-trained student of the same architecture. */
  baseline: string;
  /** The paired test used. */
  test: PairedTest['test'];
  /** Test errors of the student minus the baseline's (classification; negative: fewer errors). */
  errorsDelta?: number;
  /** Test RMSE of the student minus the baseline's (regression). */
  rmseDelta?: number;
  /** Test samples only the student gets right (or predicts closer), and only the baseline. */
  studentBetter: number;
  /** Test samples only the baseline gets right (or predicts closer). */
  baselineBetter: number;
  /** The test's two-sided p-value. */
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
