/** The options of `serve()` and `distillery serve`, checked up front so that a bad one fails naming itself. */
import { z } from 'zod';
import { ServeSetupError } from './setup-error';

/** How to serve a model, or a run folder's students. */
export interface ServeOptions {
  /** An .onnx file, or a run folder (its students that `distillery verify` accepts). */
  readonly model: string;
  /** The interface to bind (default 127.0.0.1: only this machine; `0.0.0.0` for every interface). */
  readonly host?: string;
  /** The port (default 8080; 0: a free port, see the returned `url`). */
  readonly port?: number;
  /** Worker threads, each with its own session (a PredictionPool); absent: one session on the main thread. */
  readonly threads?: number;
  /** Rows in one run at most (the batcher's `maxBatch`, default 32). */
  readonly maxBatch?: number;
  /** How long a batch waits for batch-mates while runs are busy, ms (default 2); an idle model runs a request at once. */
  readonly maxDelayMs?: number;
  /** Every batch waits `maxDelayMs`, even a lone request on an idle model (a fixed window; default false). */
  readonly waitWhenIdle?: boolean;
  /** Rows waiting per model at most (default 1024); beyond it a request gets 503 and Retry-After. */
  readonly maxQueue?: number;
  /** A bearer token every request but `GET /healthz` must carry (`Authorization: Bearer <token>`); absent: none. */
  readonly token?: string;
  /** Largest request body, bytes (default 10 MiB: a few dozen base64 images); a larger one gets 413. */
  readonly bodyLimit?: number;
  /** Largest image file in a multipart upload, bytes (default 5 MiB); a larger one gets 413 naming its part. */
  readonly maxFileBytes?: number;
  /** Most image files in one multipart upload (default 64); one more gets 413 naming it. */
  readonly maxFiles?: number;
  /** Time to receive a whole request (headers and body), ms (default 30 s): a slower client gets 408. */
  readonly requestTimeoutMs?: number;
  /** Fastify's request log (JSON lines on stdout, pino); default off. */
  readonly logger?: boolean;
}

/** The options with their defaults. */
export type ResolvedServeOptions = Required<Omit<ServeOptions, 'threads' | 'token'>> &
  Pick<ServeOptions, 'threads' | 'token'>;

export const SERVE_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  maxBatch: 32,
  maxDelayMs: 2,
  waitWhenIdle: false,
  maxQueue: 1024,
  bodyLimit: 10 * 1024 * 1024,
  maxFileBytes: 5 * 1024 * 1024,
  maxFiles: 64,
  requestTimeoutMs: 30_000,
  logger: false,
} as const;

const positive = z.number().int().positive();

const optionsSchema = z.strictObject({
  model: z.string().min(1),
  host: z.string().min(1).optional(),
  port: z.number().int().min(0).max(65535).optional(),
  threads: positive.optional(),
  maxBatch: positive.optional(),
  maxDelayMs: z.number().min(0).optional(),
  waitWhenIdle: z.boolean().optional(),
  maxQueue: positive.optional(),
  token: z.string().min(1).optional(),
  bodyLimit: positive.optional(),
  maxFileBytes: positive.optional(),
  maxFiles: positive.optional(),
  requestTimeoutMs: positive.optional(),
  logger: z.boolean().optional(),
});

/** Checks the options (ServeSetupError `invalid-option` naming the first bad one) and fills in the defaults. */
export function resolveOptions(options: ServeOptions): ResolvedServeOptions {
  const parsed = optionsSchema.safeParse(options);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const field = (issue?.path ?? []).map(String).join('.') || 'options';
    throw new ServeSetupError('invalid-option', `serve option ${field}: ${issue?.message ?? 'invalid'}`);
  }
  // `{ port: undefined }` means the default, as a missing key does.
  const given = Object.fromEntries(
    Object.entries(parsed.data as Record<string, unknown>).filter(([, value]) => value !== undefined),
  );
  return { ...SERVE_DEFAULTS, ...given } as ResolvedServeOptions;
}
