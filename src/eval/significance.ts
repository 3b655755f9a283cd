/**
 * Paired significance tests for two models scored on the same samples.
 *
 * Classification: the exact McNemar test — of the samples exactly one of the two gets right, is the split between
 * them further from half and half than chance allows? Regression: the exact sign test on which of the two has the
 * smaller absolute error per sample (ties dropped). Both are two-sided binomial tests at p = ½, computed exactly
 * in log space, so they hold for any number of discordant samples.
 */

export interface PairedTest {
  test: 'mcnemar-exact' | 'sign-test';
  /** Samples where the first model is better (right where the other is wrong, or a smaller error). */
  firstBetter: number;
  /** Samples where the second model is better. */
  secondBetter: number;
  pValue: number;
}

/** Two-sided exact binomial test of `b` successes against `c` at p = ½: 2·P(X ≤ min(b, c)), capped at 1. */
export function exactBinomialTwoSided(b: number, c: number): number {
  const n = b + c;
  if (n === 0) return 1;
  const low = Math.min(b, c);
  // log C(n, k) + n·log ½ for k = 0…low, each from the previous one; summed relative to the largest (the last).
  let log = -n * Math.LN2;
  const logs: number[] = [log];
  for (let k = 0; k < low; k++) {
    log = log + Math.log(n - k) - Math.log(k + 1);
    logs.push(log);
  }
  const max = log;
  const tail = Math.exp(max) * logs.reduce((sum, value) => sum + Math.exp(value - max), 0);
  return Math.min(1, 2 * tail);
}

/** Exact McNemar test on per-sample correctness (true: right). */
export function mcnemarExact(firstRight: ArrayLike<boolean>, secondRight: ArrayLike<boolean>): PairedTest {
  checkLengths(firstRight.length, secondRight.length);
  let b = 0;
  let c = 0;
  for (let i = 0; i < firstRight.length; i++) {
    if (firstRight[i] && !secondRight[i]) b++;
    else if (!firstRight[i] && secondRight[i]) c++;
  }
  return { test: 'mcnemar-exact', firstBetter: b, secondBetter: c, pValue: exactBinomialTwoSided(b, c) };
}

/** Exact sign test on per-sample absolute errors (smaller is better; equal errors are dropped). */
export function signTest(firstError: ArrayLike<number>, secondError: ArrayLike<number>): PairedTest {
  checkLengths(firstError.length, secondError.length);
  let b = 0;
  let c = 0;
  for (let i = 0; i < firstError.length; i++) {
    const first = Math.abs(firstError[i] ?? NaN); // i is below both lengths (checked equal)
    const second = Math.abs(secondError[i] ?? NaN);
    if (first < second) b++;
    else if (second < first) c++;
  }
  return { test: 'sign-test', firstBetter: b, secondBetter: c, pValue: exactBinomialTwoSided(b, c) };
}

function checkLengths(a: number, b: number): void {
  if (a !== b)
    throw new RangeError(`paired test: ${a} samples against ${b}; both models must be scored on the same samples`);
}
