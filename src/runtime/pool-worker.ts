/**
 * The pool's worker thread: one onnxruntime session per model file, loaded by
 * this thread from the file itself, then `runRows` — the very function
 * OnnxModel uses. Inputs arrive validated and normalised, outputs go back
 * raw; the main thread does the rest, so both paths give identical results.
 *
 * Dependency-light on purpose (node, onnxruntime-node, ./session): under
 * ts-jest this file is compiled in the worker by the hook described in pool.ts.
 */
import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import { createSession, runRows, type RawOutput, type RunPlan } from './session';

export interface PoolTask {
  readonly file: string;
  readonly threads: number;
  /** null: only make sure the session is loaded (the pool's start-up check). */
  readonly run: { readonly plan: RunPlan; readonly data: Float32Array; readonly rows: number } | null;
}

const sessions = new Map<string, Promise<InferenceSession>>();

function session(file: string, threads: number): Promise<InferenceSession> {
  const key = `${threads}:${file}`;
  let loading = sessions.get(key);
  if (loading === undefined) {
    loading = readFile(file).then((bytes) => createSession(bytes, threads));
    // A failed load must not be cached: the next task retries.
    loading.catch(() => sessions.delete(key));
    sessions.set(key, loading);
  }
  return loading;
}

export default async function runPoolTask(task: PoolTask): Promise<RawOutput | null> {
  const loaded = await session(task.file, task.threads);
  if (task.run === null) return null;
  return runRows(loaded, task.run.plan, task.run.data, task.run.rows);
}
