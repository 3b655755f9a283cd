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
