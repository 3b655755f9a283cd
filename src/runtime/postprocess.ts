/**
 * From raw output rows to predictions. Pure functions, shared by every path.
 */
import type { ClassPrediction, OutputKind, Prediction, RegressionPrediction, Task } from './types';

/** Softmax in float64, shifted by the maximum so that exp never overflows. */
export function softmax(logits: ArrayLike<number>): number[] {
  let max = -Infinity;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i] as number);
  const exps = Array.from(logits, (value) => Math.exp(value - max));
  const sum = exps.reduce((total, value) => total + value, 0);
  return exps.map((value) => value / sum);
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
  if (meaning.task === 'regression') return { task: 'regression', values: Array.from(row) } satisfies RegressionPrediction;
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

/** Splits `rows * width` values into one prediction per row. */
export function toPredictions(data: Float32Array, width: number, meaning: OutputMeaning): Prediction[] {
  const predictions: Prediction[] = [];
  for (let start = 0; start < data.length; start += width) {
    predictions.push(toPrediction(data.subarray(start, start + width), meaning));
  }
  return predictions;
}
