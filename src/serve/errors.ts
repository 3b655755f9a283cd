/**
 * How `distillery serve` fails: at start-up with a typed error (the CLI prints it and exits 1), and per request with
 * a JSON error body `{ error: { code, message, field } }` and the status a client can act on. docs/ERRORS.md lists
 * every case.
 */
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';
import { InputValidationError } from '../core/errors';
import { BatcherClosedError, InferenceError, QueueFullError, WorkerDiedError } from '../runtime/errors';
export { ServeSetupError, type ServeSetupReason } from './setup-error';

/** A request's failure as the server answers it. */
export interface HttpFailure {
  readonly status: number;
  readonly code: string;
  readonly message: string;
  readonly field: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

/** A failure a route raises on purpose (unknown model, missing token…), already in its answered form. */
export class HttpError extends Error {
  override readonly name = 'HttpError';

  constructor(readonly failure: HttpFailure) {
    super(failure.message);
  }
}

/** Seconds a client should wait before retrying a refused request: a queue drains within a few batches. */
const RETRY_AFTER_S = '1';

/** Fastify's own errors (body parsing and limits), by code: the status, our code and the field at fault. */
const FASTIFY_CODES: Readonly<Record<string, Omit<HttpFailure, 'message'>>> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: { status: 415, code: 'unsupported-media-type', field: 'headers.content-type' },
  FST_ERR_CTP_BODY_TOO_LARGE: { status: 413, code: 'body-too-large', field: 'body' },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, code: 'malformed-json', field: 'body' },
  FST_ERR_CTP_EMPTY_JSON_BODY: { status: 400, code: 'malformed-json', field: 'body' },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: { status: 400, code: 'bad-content-length', field: 'headers.content-length' },
};

interface FastifyLikeError {
  readonly code?: string;
  readonly statusCode?: number;
  readonly message: string;
}

/** Any error thrown while answering a request → its answer. Unknown errors are 500s, their message kept. */
export function failureOf(error: unknown): HttpFailure {
  if (error instanceof HttpError) return error.failure;
  if (hasZodFastifySchemaValidationErrors(error)) return validationFailure(error.validation);
  if (error instanceof InputValidationError)
    return { status: 400, code: 'invalid-input', message: error.message, field: error.field };
  if (error instanceof QueueFullError)
    return { status: 503, code: 'queue-full', message: error.message, field: null, headers: retryAfter() };
  if (error instanceof BatcherClosedError)
    return { status: 503, code: 'draining', message: error.message, field: null, headers: retryAfter() };
  // The worker is replaced already: the same request, sent again, is answered.
  if (error instanceof WorkerDiedError)
    return { status: 503, code: 'worker-died', message: error.message, field: null, headers: retryAfter() };
  if (error instanceof InferenceError)
    return { status: 500, code: 'inference-failed', message: error.message, field: null };
  return fastifyFailure(error as FastifyLikeError);
}

function retryAfter(): Record<string, string> {
  return { 'retry-after': RETRY_AFTER_S };
}

function fastifyFailure(error: FastifyLikeError): HttpFailure {
  const known = error.code !== undefined ? FASTIFY_CODES[error.code] : undefined;
  if (known) return { ...known, message: error.message };
  // The JSON parser's own SyntaxError carries a 400 and no code.
  if (error instanceof SyntaxError || (error.statusCode === 400 && error.code === undefined))
    return { status: 400, code: 'malformed-json', message: `malformed JSON: ${error.message}`, field: 'body' };
  const status = error.statusCode !== undefined && error.statusCode >= 400 ? error.statusCode : 500;
  return { status, code: status >= 500 ? 'internal' : 'bad-request', message: error.message, field: null };
}

/** A zod issue, as much of it as the field and message need (a union's carries its branches' issues). */
interface ZodIssueLike {
  readonly code: string;
  readonly path: readonly PropertyKey[];
  readonly message: string;
  readonly errors?: readonly (readonly ZodIssueLike[])[];
}

/**
 * fastify-type-provider-zod turns each zod issue into Ajv's shape (`instancePath` '/inputs/0/1', the rest of the issue
 * in `params`); back to a zod issue, indices as numbers.
 */
function issueOf(entry: { keyword: string; instancePath: string; message?: string; params: object }): ZodIssueLike {
  const path = entry.instancePath
    .split('/')
    .filter((key) => key !== '')
    .map((key) => (/^\d+$/.test(key) ? Number(key) : key));
  const errors = (entry.params as { errors?: ZodIssueLike[][] }).errors;
  return { code: entry.keyword, path, message: entry.message ?? 'invalid', ...(errors ? { errors } : {}) };
}

/** A request the schema refused: 400, naming the deepest field at fault (`inputs[0][2]`, not just `inputs[0]`). */
function validationFailure(validation: readonly Parameters<typeof issueOf>[0][]): HttpFailure {
  const first = validation[0];
  if (first === undefined) return { status: 400, code: 'invalid-request', message: 'invalid request', field: null };
  const { path, message } = deepest(issueOf(first));
  const field = fieldName(path);
  return { status: 400, code: 'invalid-request', message: `${field || '(body)'}: ${message}`, field: field || null };
}

/**
 * The issue to report for a failed union (an input matches none of the kinds): the branch that got furthest into
 * the value says best what is wrong (`[1, null]` fails as numbers at index 1, not as a table row).
 */
function deepest(issue: ZodIssueLike): { path: readonly PropertyKey[]; message: string } {
  if (issue.code !== 'invalid_union' || !issue.errors?.length) return { path: issue.path, message: issue.message };
  let best: { path: readonly PropertyKey[]; message: string } | null = null;
  for (const branch of issue.errors)
    for (const inner of branch) {
      const found = deepest(inner);
      if (best === null || found.path.length > best.path.length) best = found;
    }
  if (best === null || best.path.length === 0) return { path: issue.path, message: best?.message ?? issue.message };
  return { path: [...issue.path, ...best.path], message: best.message };
}

/** `['inputs', 0, 'image']` → `inputs[0].image`. */
export function fieldName(path: readonly PropertyKey[]): string {
  return path
    .map((key, index) => (typeof key === 'number' ? `[${key}]` : `${index === 0 ? '' : '.'}${String(key)}`))
    .join('');
}
