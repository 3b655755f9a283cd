/**
 * Typed errors of the runtime. Each carries the facts a caller needs to react
 * (which file, which field) so that messages never have to be parsed.
 * InputValidationError, which preprocess and eval throw too, lives in src/core/errors.ts.
 */

/** Why a model file could not be loaded. */
export type ModelLoadReason =
  'not-found' | 'unreadable' | 'not-onnx' | 'invalid-metadata' | 'unsupported' | 'session-failed';

/**
 * A model file could not be loaded: missing, unreadable, not ONNX, invalid `distillery.*` metadata, a graph the
 * runtime cannot run, or a session onnxruntime refused. `reason` says which, `file` which file.
 */
export class ModelLoadError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'ModelLoadError';

  constructor(
    /** The model file, as the caller named it. */
    readonly file: string,
    /** Why loading failed, to react on without parsing the message. */
    readonly reason: ModelLoadReason,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot load model ${file}: ${detail}`, options);
  }
}

/** onnxruntime failed while running a model, or returned an output we cannot use. */
export class InferenceError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'InferenceError';

  constructor(
    /** The model's name ({@link ModelInfo.name}). */
    readonly model: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`inference failed for model ${model}: ${detail}`, options);
  }
}

/**
 * A {@link Batcher}'s queue already holds `maxQueue` calls: the call is refused at once, so that a burst beyond what
 * the model can answer meets back-pressure (a server answers 503 and Retry-After) instead of an ever-growing queue.
 */
export class QueueFullError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'QueueFullError';

  constructor(
    /** The model's name ({@link ModelInfo.name}). */
    readonly model: string,
    /** The batcher's `maxQueue`. */
    readonly maxQueue: number,
    /** Calls waiting when this one was refused (never more than `maxQueue`). */
    readonly queued: number,
  ) {
    super(`the batcher of model ${model} has ${queued} calls waiting (maxQueue ${maxQueue}): try again later`);
  }
}

/** A call made to a {@link Batcher} after `close()`: it takes no new calls, and answers only those it had. */
export class BatcherClosedError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'BatcherClosedError';

  constructor(
    /** The model's name ({@link ModelInfo.name}). */
    readonly model: string,
  ) {
    super(`the batcher of model ${model} is closed: it takes no new calls`);
  }
}

/** A {@link BatcherOptions} value out of its range; `option` names it. */
export class BatcherOptionError extends RangeError {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'BatcherOptionError';

  constructor(
    /** The option, e.g. `maxBatch`. */
    readonly option: string,
    /** What it must be. */
    readonly expected: string,
    /** The value given. */
    readonly received: unknown,
  ) {
    super(`batcher option ${option}: expected ${expected}, got ${String(received)}`);
  }
}

/**
 * A {@link PredictionPool} worker thread died (it exited, was terminated, or threw outside a task) while it held this
 * call's run. The pool has already started a worker in its place, so the call can be retried as it is (a server
 * answers 503 and Retry-After). A run that fails inside a living worker is an {@link InferenceError} instead.
 */
export class WorkerDiedError extends Error {
  /** The class's name, also set on instances, so that logs and `error.name` checks see it. */
  override readonly name = 'WorkerDiedError';

  constructor(
    /** The model's name ({@link ModelInfo.name}). */
    readonly model: string,
    /** What the worker died of, as piscina reported it (e.g. `worker exited with code: 1`). */
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `a worker thread of model ${model}'s pool died while running this call (${detail}); ` +
        'it has been replaced: try again',
      options,
    );
  }
}
