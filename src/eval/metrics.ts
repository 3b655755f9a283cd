/**
 * Metrics as pure functions over plain arrays. Class labels are indices
 * 0..classes-1; probabilities are one row per sample.
 */
import { argmax } from '../runtime/postprocess';
import { describeValue, InputValidationError } from '../core/errors';

/** Class indices, one per sample (0 to classes − 1): a plain array or a typed array. */
export type Labels = ArrayLike<number>;
/** Class probabilities, one row per sample, one column per class. */
export type ProbabilityRows = readonly ArrayLike<number>[];

/** Precision, recall and F1 of one class, as {@link perClassMetrics} computes them. */
export interface ClassMetrics {
  /** The class's index. */
  readonly index: number;
  /** TP / predicted as this class; 0 when never predicted (like scikit-learn's zero_division=0). */
  readonly precision: number;
  /** TP / actually this class; 0 when the class never occurs. */
  readonly recall: number;
  /** Harmonic mean of precision and recall; 0 when both are 0. */
  readonly f1: number;
  /** Samples whose true class is this one. */
  readonly support: number;
}

/**
 * Share of samples whose predicted class is the true one.
 * @param predicted - predicted class indices
 * @param actual - true class indices, as many as `predicted`
 * @returns a number in [0, 1]
 * @throws {@link InputValidationError} when the arrays are empty or of different lengths
 */
export function accuracy(predicted: Labels, actual: Labels): number {
  return 1 - errorCount(predicted, actual) / checkPaired(predicted, actual, 'predicted', 'actual');
}

/**
 * Number of samples whose predicted class is not the true one.
 * @param predicted - predicted class indices
 * @param actual - true class indices, as many as `predicted`
 * @throws {@link InputValidationError} when the arrays are empty or of different lengths
 */
export function errorCount(predicted: Labels, actual: Labels): number {
  const n = checkPaired(predicted, actual, 'predicted', 'actual');
  let errors = 0;
  for (let i = 0; i < n; i++) if (predicted[i] !== actual[i]) errors += 1;
  return errors;
}

/** Agreement (fidelity): the share of samples on which two models predict the same class. */
export function predictionAgreement(a: Labels, b: Labels): number {
  return accuracy(a, b);
}

/**
 * Share of samples whose true class is among the k most probable. Ties are
 * broken towards the lower class index, as a stable sort would.
 */
export function topKAccuracy(probabilities: ProbabilityRows, actual: Labels, k: number): number {
  const n = checkPaired(probabilities, actual, 'probabilities', 'actual');
  if (!Number.isInteger(k) || k < 1) throw new InputValidationError('k', 'a positive integer', describeValue(k));
  let hits = 0;
  for (let i = 0; i < n; i++) {
    const row = probabilities[i] as ArrayLike<number>;
    const truth = checkClass(actual[i], row.length, `actual[${i}]`);
    const p = row[truth] as number;
    let ahead = 0; // classes ranked before the true one
    for (let j = 0; j < row.length; j++) {
      const q = row[j] as number;
      if (q > p || (q === p && j < truth)) ahead += 1;
    }
    if (ahead < k) hits += 1;
  }
  return hits / n;
}

/** `matrix[actual][predicted]` counts. */
export function confusionMatrix(predicted: Labels, actual: Labels, classes?: number): number[][] {
  const n = checkPaired(predicted, actual, 'predicted', 'actual');
  const size = classes ?? inferClassCount(predicted, actual);
  const matrix = Array.from({ length: size }, () => new Array<number>(size).fill(0));
  for (let i = 0; i < n; i++) {
    const row = matrix[checkClass(actual[i], size, `actual[${i}]`)] as number[];
    const column = checkClass(predicted[i], size, `predicted[${i}]`);
    row[column] = (row[column] as number) + 1;
  }
  return matrix;
}

/**
 * Precision, recall, F1 and support of every class, from the confusion matrix.
 * @param predicted - predicted class indices
 * @param actual - true class indices
 * @param classes - number of classes (default: the largest index seen + 1)
 * @returns one entry per class, by index
 */
export function perClassMetrics(predicted: Labels, actual: Labels, classes?: number): ClassMetrics[] {
  return perClassFromConfusion(confusionMatrix(predicted, actual, classes));
}

export function perClassFromConfusion(matrix: readonly (readonly number[])[]): ClassMetrics[] {
  return matrix.map((row, index) => {
    const truePositives = row[index] ?? 0;
    const support = row.reduce((sum, count) => sum + count, 0);
    const predictedAs = matrix.reduce((sum, other) => sum + (other[index] ?? 0), 0);
    const precision = predictedAs === 0 ? 0 : truePositives / predictedAs;
    const recall = support === 0 ? 0 : truePositives / support;
    const f1 = precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall);
    return { index, precision, recall, f1, support };
  });
}

/** Mean of −log p(true class); probabilities are clipped at `epsilon` so that a confident mistake stays finite. */
export function negativeLogLikelihood(probabilities: ProbabilityRows, actual: Labels, epsilon = 1e-12): number {
  const n = checkPaired(probabilities, actual, 'probabilities', 'actual');
  let total = 0;
  for (let i = 0; i < n; i++) {
    const row = probabilities[i] as ArrayLike<number>;
    total -= Math.log(Math.max(row[checkClass(actual[i], row.length, `actual[${i}]`)] as number, epsilon));
  }
  return total / n;
}

/**
 * Expected calibration error (Guo et al., 2017): samples are binned by their
 * top-1 confidence into `bins` equal-width bins (lower, upper]; ECE is the
 * sample-weighted mean of |accuracy − mean confidence| over the bins.
 */
export function expectedCalibrationError(probabilities: ProbabilityRows, actual: Labels, bins = 15): number {
  const n = checkPaired(probabilities, actual, 'probabilities', 'actual');
  if (!Number.isInteger(bins) || bins < 1)
    throw new InputValidationError('bins', 'a positive integer', describeValue(bins));
  const count = new Float64Array(bins);
  const correct = new Float64Array(bins);
  const confidenceSum = new Float64Array(bins);
  for (let i = 0; i < n; i++) {
    const row = probabilities[i] as ArrayLike<number>;
    const predicted = argmax(row);
    const confidence = row[predicted] as number;
    const bin = Math.min(bins - 1, Math.max(0, Math.ceil(confidence * bins) - 1));
    count[bin] = (count[bin] as number) + 1;
    confidenceSum[bin] = (confidenceSum[bin] as number) + confidence;
    if (predicted === checkClass(actual[i], row.length, `actual[${i}]`)) correct[bin] = (correct[bin] as number) + 1;
  }
  let ece = 0;
  for (let b = 0; b < bins; b++) {
    const inBin = count[b] as number;
    if (inBin > 0) ece += (inBin / n) * Math.abs((correct[b] as number) / inBin - (confidenceSum[b] as number) / inBin);
  }
  return ece;
}

/** Root mean squared error over all values (several outputs per sample are flattened). */
export function rmse(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  const n = checkPaired(predicted, actual, 'predicted', 'actual');
  let total = 0;
  for (let i = 0; i < n; i++) total += ((predicted[i] as number) - (actual[i] as number)) ** 2;
  return Math.sqrt(total / n);
}

/**
 * Mean absolute error over all values (several outputs per sample are flattened).
 * @throws {@link InputValidationError} when the arrays are empty or of different lengths
 */
export function mae(predicted: ArrayLike<number>, actual: ArrayLike<number>): number {
  const n = checkPaired(predicted, actual, 'predicted', 'actual');
  let total = 0;
  for (let i = 0; i < n; i++) total += Math.abs((predicted[i] as number) - (actual[i] as number));
  return total / n;
}

/**
 * Coefficient of determination, 1 − SS_res / SS_tot. With `outputs` > 1 the
 * values are rows of that width, each output is centred on its own mean, and the
 * sums are pooled (scikit-learn's `variance_weighted`).
 */
export function r2(predicted: ArrayLike<number>, actual: ArrayLike<number>, outputs = 1): number {
  const n = checkPaired(predicted, actual, 'predicted', 'actual');
  if (!Number.isInteger(outputs) || outputs < 1 || n % outputs !== 0) {
    throw new InputValidationError('outputs', `a positive integer that divides ${n}`, describeValue(outputs));
  }
  const means = new Float64Array(outputs);
  for (let i = 0; i < n; i++)
    means[i % outputs] = (means[i % outputs] as number) + (actual[i] as number) / (n / outputs);
  let residual = 0;
  let total = 0;
  for (let i = 0; i < n; i++) {
    residual += ((actual[i] as number) - (predicted[i] as number)) ** 2;
    total += ((actual[i] as number) - (means[i % outputs] as number)) ** 2;
  }
  return total === 0 ? (residual === 0 ? 1 : 0) : 1 - residual / total;
}

function checkPaired(a: ArrayLike<unknown>, b: ArrayLike<unknown>, aName: string, bName: string): number {
  if (a.length === 0) throw new InputValidationError(aName, 'at least one value', 'an empty array');
  if (a.length !== b.length)
    throw new InputValidationError(bName, `${a.length} values (as many as ${aName})`, `${b.length}`);
  return a.length;
}

function checkClass(value: number | undefined, classes: number, field: string): number {
  if (value === undefined || !Number.isInteger(value) || value < 0 || value >= classes) {
    throw new InputValidationError(field, `a class index in 0..${classes - 1}`, describeValue(value));
  }
  return value;
}

function inferClassCount(predicted: Labels, actual: Labels): number {
  // Only valid indices count here; checkClass reports the invalid ones.
  let max = 0;
  for (const values of [predicted, actual]) {
    for (const value of Array.from(values)) if (Number.isInteger(value)) max = Math.max(max, value);
  }
  return max + 1;
}
