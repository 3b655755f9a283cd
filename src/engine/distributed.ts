/**
 * A distributed experiment: `python -m distillery run_experiment <request.json> --jsonl` as a child process,
 * which launches its ranks through torchrun (python/distillery/distributed.py). pythonia is not used: the
 * launcher's stdout carries rank 0's progress events and then one `{ ok, result | error }` envelope, each a
 * JSON line, validated against the seam's zod schemas like the bridge's. The launcher runs in a process group
 * of its own, stopped as a whole on abort (SIGTERM; SIGKILL after the grace period); its ranks die with it
 * (torchrun stops them, and each one has PR_SET_PDEATHSIG).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { EngineEvent as EngineEventSchema, ExperimentResult as ExperimentResultSchema, checked } from './commands';
import { PYTHON_PACKAGE_DIR, pythonProcessEnv, resolveInterpreter } from './environment';
import { EngineAbortError, EngineCrashedError, errorFromPython, type PythonErrorInfo } from './errors';
import type { EngineEvent, ExperimentTrainResult } from './types';

export interface DistributedRunOptions {
  /** Python interpreter (default: as Engine.start resolves it). */
  python?: string;
  signal?: AbortSignal;
  onEvent?: (event: EngineEvent) => void;
  /** After an abort, how long the launcher may take to stop its ranks before its process group is killed. Default 10 s. */
  abortGraceMs?: number;
}

interface Envelope {
  ok: boolean;
  result?: unknown;
  /** `python -m distillery --jsonl` sends the error's to_json(), which has no traceback (stderr stands in for it). */
  error?: Omit<PythonErrorInfo, 'traceback'> & { traceback?: string };
}

const live = new Set<ChildProcess>();
function killAll(): void {
  for (const child of live) killGroup(child, 'SIGKILL');
}

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // already gone
  }
}

/**
 * Runs the experiment in `requestFile` (a complete run_experiment request with a `distributed` block, e.g.
 * resolved-config.json) on this node's ranks. Resolves to rank 0's result, or null on a node that does not
 * hold rank 0. A failed rank rejects with a RankFailedError naming it (or the rank's own typed error).
 */
export async function runDistributed(
  requestFile: string,
  options: DistributedRunOptions = {},
): Promise<ExperimentTrainResult | null> {
  if (options.signal?.aborted) throw new EngineAbortError();
  const python = await resolveInterpreter(options.python);
  const env = {
    ...process.env,
    ...pythonProcessEnv(),
    PYTHONPATH: [PYTHON_PACKAGE_DIR, process.env.PYTHONPATH].filter(Boolean).join(path.delimiter),
    PYTHONUNBUFFERED: '1',
  };
  const child = spawn(python, ['-m', 'distillery', 'run_experiment', requestFile, '--jsonl'], {
    env,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.add(child);
  if (live.size === 1) process.on('exit', killAll);
  let stderr = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    stderr = (stderr + chunk).slice(-8000);
  });
  let envelope: Envelope | null = null;
  const failed: { event?: Error } = {}; // a progress event that broke the contract (or whose handler threw)
  const lines = readline.createInterface({ input: child.stdout });
  lines.on('line', (line) => {
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      return; // not ours: a library printing to stdout
    }
    if (value && typeof value === 'object' && 'ok' in value) envelope = value as Envelope;
    else if (options.onEvent && !failed.event) {
      try {
        options.onEvent(checked(EngineEventSchema, value, "a 'run_experiment' progress event"));
      } catch (error) {
        failed.event = error as Error;
        killGroup(child, 'SIGTERM');
      }
    }
  });
  // An object, not a `let`: the flag is set in the abort listener, which the checks after `await` must not assume false.
  const abort = { requested: false };
  let graceTimer: NodeJS.Timeout | undefined;
  const onAbort = (): void => {
    abort.requested = true;
    killGroup(child, 'SIGTERM'); // torchrun forwards it to the ranks and stops them
    graceTimer = setTimeout(() => killGroup(child, 'SIGKILL'), options.abortGraceMs ?? 10_000);
  };
  options.signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode, exitSignal) => resolve([exitCode, exitSignal]));
    });
    if (failed.event) throw failed.event;
    if (abort.requested) throw new EngineAbortError('the distributed run was aborted (its ranks were stopped)');
    const received = envelope as Envelope | null;
    if (received?.ok)
      return received.result === null
        ? null
        : checked(ExperimentResultSchema, received.result, "the 'run_experiment' result");
    if (received?.error) throw errorFromPython({ ...received.error, traceback: received.error.traceback ?? stderr });
    const crashed = new EngineCrashedError(code, signal);
    crashed.message += `\n${stderr.trim().split('\n').slice(-15).join('\n')}`;
    throw crashed;
  } finally {
    options.signal?.removeEventListener('abort', onAbort);
    if (graceTimer) clearTimeout(graceTimer);
    live.delete(child);
    if (live.size === 0) process.removeListener('exit', killAll);
  }
}
