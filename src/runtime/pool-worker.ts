/**
 * The pool's worker thread: one onnxruntime session per model file, loaded by
 * this thread from the file itself, then `runRows` — the very function
 * OnnxModel uses. Inputs arrive validated and normalised, outputs go back
 * raw; the main thread does the rest, so both paths give identical results.
 *
 * Dependency-light on purpose (node, onnxruntime-node, ./session, ./run): under
 * ts-jest this file is compiled in the worker by the hook described in pool.ts.
 *
 * A task never rejects: its failure comes back as a {@link PoolAnswer}, so that the
 * pool tells a run that failed (the worker lives on: InferenceError) from a
 * worker that died (piscina rejects the task: WorkerDiedError).
 */
import { readFile } from 'node:fs/promises';
import type { InferenceSession } from 'onnxruntime-node';
import type { RawOutput, RunPlan } from './run';
import { createSession, runRows } from './session';

export interface PoolTask {
  readonly file: string;
  readonly threads: number;
  /** null: only make sure the session is loaded (the pool's start-up check). */
  readonly run: { readonly plan: RunPlan; readonly data: Float32Array; readonly rows: number } | null;
  /**
   * Test-only, and honoured only under jest (`JEST_WORKER_ID` set) or where `DISTILLERY_TEST_HOOKS=1` is in the
   * worker's environment; nothing in the library sets it. The worker ends
   * itself (`process.exit(1)`) on receiving this task, as a crash would, so that a test can kill a worker that holds
   * a task. It exits before any onnxruntime call on purpose: a worker thread ended while onnxruntime-node runs for it
   * aborts the whole process (the run's completion calls into a torn-down environment).
   */
  readonly testExit?: boolean;
}

/** A task's answer: the raw output (null for the start-up check), or the message of the error it failed with. */
export type PoolAnswer =
  { readonly ok: true; readonly output: RawOutput | null } | { readonly ok: false; readonly message: string };

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

/** Whether test-only flags are honoured: under jest, whose test files cannot set a worker thread's environment. */
function testHooks(): boolean {
  return process.env.JEST_WORKER_ID !== undefined || process.env.DISTILLERY_TEST_HOOKS === '1';
}

export default async function runPoolTask(task: PoolTask): Promise<PoolAnswer> {
  if (task.testExit === true && testHooks()) process.exit(1);
  try {
    const loaded = await session(task.file, task.threads);
    if (task.run === null) return { ok: true, output: null };
    return { ok: true, output: await runRows(loaded, task.run.plan, task.run.data, task.run.rows) };
  } catch (error) {
    return { ok: false, message: error instanceof Error ? error.message : String(error) };
  }
}
