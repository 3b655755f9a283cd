/**
 * Typed errors of the runtime. Each carries the facts a caller needs to react
 * (which file, which field) so that messages never have to be parsed.
 * InputValidationError, which preprocess and eval throw too, lives in src/core/errors.ts.
 */

/** Why a model file could not be loaded. */
export type ModelLoadReason =
  'not-found' | 'unreadable' | 'not-onnx' | 'invalid-metadata' | 'unsupported' | 'session-failed';

export class ModelLoadError extends Error {
  override readonly name = 'ModelLoadError';

  constructor(
    /** The model file, as the caller named it. */
    readonly file: string,
    readonly reason: ModelLoadReason,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`cannot load model ${file}: ${detail}`, options);
  }
}

/** onnxruntime failed while running a model, or returned an output we cannot use. */
export class InferenceError extends Error {
  override readonly name = 'InferenceError';

  constructor(
    readonly model: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(`inference failed for model ${model}: ${detail}`, options);
  }
}
