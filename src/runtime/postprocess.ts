/**
 * From raw output rows to predictions. Pure functions, shared by every path.
 *
 * `toPredictions` is on every call's hot path: it reads the output rows in
 * place (no subarray per row) and does the softmax and argmax with plain loops.
 * The arithmetic is exactly that of `softmax` and `argmax` (same operations, in
 * the same order), so both give identical results.
 */
import type { ClassPrediction, OutputKind, Prediction, RegressionPrediction, Task } from './types';

/** Softmax in float64, shifted by the maximum so that exp never overflows. */
export function softmax(logits: ArrayLike<number>): number[] {
  const n = logits.length;
  let max = -Infinity;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i] as number);
  const exps: number[] = [];
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const e = Math.exp((logits[i] as number) - max);
    exps.push(e);
    sum += e;
  }
  for (let i = 0; i < n; i++) exps[i] = (exps[i] as number) / sum;
  return exps;
}

/** Index of the largest value; the first one on a tie. */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if ((values[i] as number) > (values[best] as number)) best = i;
  return best;
}

export interface OutputMeaning {
  readonly task: Task;
  readonly kind: OutputKind;
  readonly labels: readonly string[] | null;
}

export function toPrediction(row: ArrayLike<number>, meaning: OutputMeaning): Prediction {
  if (meaning.task === 'regression')
    return { task: 'regression', values: Array.from(row) } satisfies RegressionPrediction;
  const logits = meaning.kind === 'logits' ? Array.from(row) : null;
  const probabilities = logits ? softmax(logits) : Array.from(row);
  const index = argmax(probabilities);
  return {
    task: 'classification',
    label: meaning.labels?.[index] ?? String(index),
    index,
    probabilities,
    logits,
  } satisfies ClassPrediction;
}

/** `data[start..end)` as a plain array. */
function copyRow(data: Float32Array, start: number, end: number): number[] {
  const row: number[] = [];
  for (let i = start; i < end; i++) row.push(data[i] as number);
  return row;
}

/** Splits `rows * width` values into one prediction per row (what `toPrediction` gives for each row). */
export function toPredictions(data: Float32Array, width: number, meaning: OutputMeaning): Prediction[] {
  const predictions: Prediction[] = [];
  const length = data.length;
  if (meaning.task === 'regression') {
    for (let start = 0; start < length; start += width) {
      predictions.push({
        task: 'regression',
        values: copyRow(data, start, Math.min(start + width, length)),
      } satisfies RegressionPrediction);
    }
    return predictions;
  }
  const fromLogits = meaning.kind === 'logits';
  // The label of each class index, once per call instead of once per row.
  const labels: string[] = [];
  for (let i = 0; i < width; i++) labels.push(meaning.labels?.[i] ?? String(i));
  for (let start = 0; start < length; start += width) {
    const end = Math.min(start + width, length);
    const n = end - start;
    let logits: number[] | null = null;
    let probabilities: number[];
    if (fromLogits) {
      // softmax(logits), inlined: max, exp(x - max) and their running sum, then the division.
      logits = [];
      probabilities = [];
      let max = -Infinity;
      for (let i = start; i < end; i++) {
        const value = data[i] as number;
        logits.push(value);
        max = Math.max(max, value);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) {
        const e = Math.exp((logits[j] as number) - max);
        probabilities.push(e);
        sum += e;
      }
      for (let j = 0; j < n; j++) probabilities[j] = (probabilities[j] as number) / sum;
    } else {
      probabilities = copyRow(data, start, end);
    }
    // argmax(probabilities), inlined.
    let index = 0;
    for (let j = 1; j < n; j++) if ((probabilities[j] as number) > (probabilities[index] as number)) index = j;
    predictions.push({
      task: 'classification',
      label: labels[index] ?? String(index),
      index,
      probabilities,
      logits,
    } satisfies ClassPrediction);
  }
  return predictions;
}
