/** Errors raised by the engine bridge. Every one extends EngineError. */

export class EngineError extends Error {
  override name = 'EngineError';
}

/** Python could not be started: missing interpreter, missing torch, a broken venv. `fix` says what to do. */
export class EngineStartError extends EngineError {
  override name = 'EngineStartError';
  constructor(
    message: string,
    readonly fix: string,
  ) {
    super(`${message}\n  fix: ${fix}`);
  }
}

/**
 * The engine's Python environment could not be set up: no Python 3.10+, `venv` or `pip` failed, a
 * requirements file is missing. `step` says which part failed; `fix` says what to do.
 */
export class EnvironmentError extends EngineStartError {
  override name = 'EnvironmentError';
  constructor(
    message: string,
    fix: string,
    readonly step: 'find-python' | 'python-too-old' | 'requirements' | 'venv' | 'pip' | 'lock',
  ) {
    super(message, fix);
  }
}

/** The Python process died (killed, out of memory, segfault). Every pending call rejects with this. */
export class EngineCrashedError extends EngineError {
  override name = 'EngineCrashedError';
  constructor(
    readonly exitCode: number | null,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(
      `the Python engine process died (${signal ? `signal ${signal}` : `exit code ${exitCode}`}); start a new Engine`,
    );
  }
}

/** Python sent a result or event that the seam's zod schema rejects: the two sides disagree (a bug). */
export class EngineContractError extends EngineError {
  override name = 'EngineContractError';
}

/** A call on an engine that was closed (or crashed). */
export class EngineClosedError extends EngineError {
  override name = 'EngineClosedError';
  constructor() {
    super('the engine is closed');
  }
}

/** A call stopped by its AbortSignal (or Ctrl-C). The engine stays usable. */
export class EngineAbortError extends EngineError {
  override name = 'AbortError';
  constructor(message = 'the call was aborted') {
    super(message);
  }
}

export interface PythonErrorInfo {
  type: string;
  message: string;
  field: string | null;
  file: string | null;
  details: Record<string, unknown>;
  traceback: string;
}

/** An exception raised in Python, with its type, message, the field or file at fault, and its traceback. */
export class PythonError extends EngineError {
  override name = 'PythonError';
  readonly pythonType: string;
  readonly field: string | undefined;
  readonly file: string | undefined;
  readonly details: Record<string, unknown>;
  readonly pythonTraceback: string;

  constructor(info: PythonErrorInfo) {
    super(`${info.type}: ${info.message}`);
    this.pythonType = info.type;
    this.field = info.field ?? undefined;
    this.file = info.file ?? undefined;
    this.details = info.details ?? {};
    this.pythonTraceback = info.traceback;
  }
}

/** The loss became NaN or infinite; `epoch` and `step` say where. */
export class TrainingDivergedError extends PythonError {
  override name = 'TrainingDivergedError';
  get epoch(): number {
    return Number(this.details['epoch']);
  }
  get step(): number {
    return Number(this.details['step']);
  }
}

/**
 * A rank of a distributed run died (killed, out of memory), hung (no heartbeat for distributed.hangTimeoutSeconds)
 * or failed: the whole job was stopped on every rank. `rank` names it; `details.reason` is 'died' or 'hang'.
 */
export class RankFailedError extends PythonError {
  override name = 'RankFailedError';
  get rank(): number {
    return Number(this.details['rank']);
  }
}

/** Builds the most specific error class for a Python error envelope. */
export function errorFromPython(info: PythonErrorInfo): PythonError | EngineAbortError {
  if (info.type === 'Cancelled') return new EngineAbortError();
  if (info.type === 'TrainingDivergedError') return new TrainingDivergedError(info);
  if (info.type === 'RankFailedError') return new RankFailedError(info);
  return new PythonError(info);
}
