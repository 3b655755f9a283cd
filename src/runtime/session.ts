/**
 * onnxruntime-node: session options and the Node binding of `runRows` (src/runtime/run.ts). OnnxModel and the pool's
 * worker threads both open their sessions here. Keep this module light: it is loaded in every worker thread.
 */
import { availableParallelism } from 'node:os';
import { InferenceSession, Tensor } from 'onnxruntime-node';
import { runRows as runRowsWith, SESSION_OPTIONS, type RawOutput, type RunPlan } from './run';

/** Small models gain nothing from many threads, and each one adds scheduling latency. */
export function defaultThreads(): number {
  return Math.max(1, Math.min(4, availableParallelism()));
}

export function sessionOptions(threads: number): InferenceSession.SessionOptions {
  return {
    ...SESSION_OPTIONS, // each operator parallelised over `threads`
    executionProviders: ['cpu'],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    enableCpuMemArena: true,
    enableMemPattern: true,
  };
}

export function createSession(bytes: Uint8Array, threads: number): Promise<InferenceSession> {
  return InferenceSession.create(bytes, sessionOptions(threads));
}

/** `runRows` with onnxruntime-node's tensors. */
export function runRows(
  session: InferenceSession,
  plan: RunPlan,
  data: Float32Array,
  rows: number,
): Promise<RawOutput> {
  return runRowsWith(Tensor, session, plan, data, rows);
}
