/** Errors raised by the engine bridge. Every one extends EngineError. */

/** The base class of every error the engine bridge throws: catch it to handle any engine failure. */
export class EngineError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EngineError';
}

/** Python could not be started: missing interpreter, missing torch, a broken venv. `fix` says what to do. */
export class EngineStartError extends EngineError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EngineStartError';
  constructor(
    message: string,
    /** What to do about it, in one line (a command to run, a variable to set). */
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
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EnvironmentError';
  constructor(
    message: string,
    fix: string,
    /** Which part of the set-up failed. */
    readonly step: 'find-python' | 'python-too-old' | 'requirements' | 'venv' | 'pip' | 'lock',
  ) {
    super(message, fix);
  }
}

/** The Python process died (killed, out of memory, segfault). Every pending call rejects with this. */
export class EngineCrashedError extends EngineError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EngineCrashedError';
  constructor(
    /** The process's exit code; null when a signal killed it. */
    readonly exitCode: number | null,
    /** The signal that killed the process (e.g. `SIGKILL` from the out-of-memory killer); null when it exited. */
    readonly signal: NodeJS.Signals | null,
  ) {
    super(
      `the Python engine process died (${signal ? `signal ${signal}` : `exit code ${String(exitCode)}`}); start a new Engine`,
    );
  }
}

/** Python sent a result or event that the seam's zod schema rejects: the two sides disagree (a bug). */
export class EngineContractError extends EngineError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EngineContractError';
}

/** A call on an engine that was closed (or crashed). */
export class EngineClosedError extends EngineError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'EngineClosedError';
  constructor() {
    super('the engine is closed');
  }
}

/** A call stopped by its AbortSignal (or Ctrl-C). The engine stays usable. */
export class EngineAbortError extends EngineError {
  /**
   * `'AbortError'`, the name DOM and Node give to an aborted operation, so that generic abort handling recognises it.
   */
  override name = 'AbortError';
  constructor(message = 'the call was aborted') {
    super(message);
  }
}

/** The error envelope Python sends for an exception. */
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
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'PythonError';
  /** The Python exception's class name (e.g. `ValueError`, `TrainingDivergedError`). */
  readonly pythonType: string;
  /** The request field at fault (a path such as `student.model.hidden`), when Python named one. */
  readonly field: string | undefined;
  /** The file at fault, when Python named one. */
  readonly file: string | undefined;
  /** Structured facts the exception carries (e.g. `epoch` and `step` of a divergence); empty when none. */
  readonly details: Record<string, unknown>;
  /** The Python traceback, for bug reports. */
  readonly pythonTraceback: string;

  /**
   * Built by the bridge from Python's error envelope; not meant to be constructed by callers.
   * @internal
   */
  constructor(info: PythonErrorInfo) {
    super(`${info.type}: ${info.message}`);
    this.pythonType = info.type;
    this.field = info.field ?? undefined;
    this.file = info.file ?? undefined;
    this.details = info.details;
    this.pythonTraceback = info.traceback;
  }
}

/** The loss became NaN or infinite; `epoch` and `step` say where. */
export class TrainingDivergedError extends PythonError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'TrainingDivergedError';
  /** The epoch at which the loss stopped being finite. */
  get epoch(): number {
    return Number(this.details.epoch);
  }
  /** The training step at which it happened. */
  get step(): number {
    return Number(this.details.step);
  }
}

/**
 * A rank of a distributed run died (killed, out of memory), hung (no heartbeat for distributed.hangTimeoutSeconds)
 * or failed: the whole job was stopped on every rank. `rank` names it; `details.reason` is 'died' or 'hang'.
 */
export class RankFailedError extends PythonError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override name = 'RankFailedError';
  /** The rank that failed. */
  get rank(): number {
    return Number(this.details.rank);
  }
}

/** Builds the most specific error class for a Python error envelope. */
export function errorFromPython(info: PythonErrorInfo): PythonError | EngineAbortError {
  if (info.type === 'Cancelled') return new EngineAbortError();
  if (info.type === 'TrainingDivergedError') return new TrainingDivergedError(info);
  if (info.type === 'RankFailedError') return new RankFailedError(info);
  return new PythonError(info);
}
