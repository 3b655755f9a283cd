/**
 * The platform seam: the few things Node and the browser do differently. Everything else — the metadata contract,
 * validation, normalisation, table encoding, tokenization, batching, post-processing — is one implementation in
 * src/runtime and src/preprocess, shared by `distillery/runtime` (Node: src/runtime/model.ts) and `distillery/web`
 * (the browser: src/web). Nothing here imports a Node built-in or a native package.
 */
import type { PixelDecoder } from '../preprocess/image-core';
import type { RawOutput, RunPlan } from './run';
import type { LoadOptions } from './types';

/** A model's bytes and how to name it: where it came from (errors and `info.file`) and its default name. */
export interface ModelBytes {
  readonly bytes: Uint8Array;
  /** The source as the caller named it (a path, a URL, or `(ArrayBuffer)`): errors name it. */
  readonly file: string;
  /** `info.file`: an absolute path in Node; the URL (or the description) in the browser. */
  readonly location: string;
  /** The name a model without `distillery.name` gets: the file's name without its extension. */
  readonly stem: string;
}

/** An open onnxruntime session, as the shared code uses it. */
export interface ModelSession {
  /** Runs `rows` prepared rows (validated and normalised) and returns the raw output rows. */
  run(plan: RunPlan, data: Float32Array, rows: number): Promise<RawOutput>;
  /** Frees the session. */
  release(): Promise<void>;
}

/** What a platform provides. */
export interface Platform {
  /** Opens a session on the model's bytes (a rejection becomes ModelLoadError 'session-failed'). */
  openSession(bytes: Uint8Array, options: LoadOptions): Promise<ModelSession>;
  /** Decodes the images the shared plain-PNG path does not take (sharp in Node, the browser's decoders in a page). */
  readonly decodePixels: PixelDecoder;
}
