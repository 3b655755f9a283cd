/**
 * Node against Python on the same rows: the class probabilities of the runtime's predictions, Python's softmax of a
 * checkpoint's logits on the test split of the engine data a run recorded, and the largest difference between them.
 */
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import type { ClassPrediction, Prediction } from '../../src/runtime';
import { ROOT } from './tiny';

/** Runs scripts/python.js with `args` (one thread), and returns its stdout; a failure throws with its stderr. */
export function python(args: string[]): string {
  const result = spawnSync(process.execPath, [path.join(ROOT, 'scripts', 'python.js'), ...args], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...process.env, OMP_NUM_THREADS: '1' },
  });
  if (result.status !== 0)
    throw new Error(`python ${args[0] ?? ''} failed (${String(result.status)}): ${result.stderr}`);
  return result.stdout;
}

/** Python's softmax of a checkpoint's logits on the test split of the engine data the run in `outDir` recorded. */
export function pythonProbabilities(outDir: string, checkpoint: string): number[][] {
  const script = [
    'import json, sys',
    'import numpy as np',
    'from distillery import api',
    'config = json.load(open(sys.argv[1]))',
    "logits, y = api.predict(sys.argv[2], config['data'], 'test', 'cpu')",
    'p = np.exp(logits - logits.max(axis=1, keepdims=True))',
    'print(json.dumps((p / p.sum(axis=1, keepdims=True)).tolist()))',
  ].join('\n');
  const out = python([
    '-c',
    script,
    path.join(outDir, 'resolved-config.json'),
    path.join(outDir, 'checkpoints', checkpoint),
  ]);
  return JSON.parse(out.trim().split('\n').pop()!) as number[][];
}

export function probabilities(predictions: Prediction[]): number[][] {
  return predictions.map((prediction) => (prediction as ClassPrediction).probabilities);
}

/** The largest absolute difference between two tables of the same shape (their row counts are expected equal). */
export function maxAbsDifference(a: number[][], b: number[][]): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  a.forEach((row, i) => row.forEach((value, j) => (max = Math.max(max, Math.abs(value - b[i]![j]!)))));
  return max;
}
